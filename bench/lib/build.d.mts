export declare function wranglerVersion(): string;
export declare function buildWorker(options: { projectRoot: string; outdir: string }): Promise<{ main: string; ms: number; wranglerVersion: string }>;
