// Types for build.mjs, so TypeScript scripts and Node-side tests can import it.
export declare function wranglerVersion(): string;
export declare function buildWorker(options: { projectRoot: string; outdir: string }): Promise<{ dir: string; main: string; wranglerVersion: string; ms: number }>;
