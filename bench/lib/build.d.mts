// Types for build.mjs, so Node-side tests can import it from TypeScript.
export declare function wranglerVersion(): string;
export declare function buildWorker(options: { projectRoot: string; outdir: string }): Promise<{ dir: string; main: string; wranglerVersion: string; ms: number }>;
