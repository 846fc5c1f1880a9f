// Types for runner-miniflare.mjs, so TypeScript scripts and Node-side tests can import it.
export interface MiniflareRunnerOptions {
  scriptPath: string;
  configPath: string;
  env?: string;
  bindings?: Record<string, string>;
  queueConsumers?: boolean;
  storage?: "disk" | "tmpfs";
  viaEntry?: boolean;
  /** Serve wrangler.toml's [assets] too (implies viaEntry). */
  assets?: boolean;
  traceFsyncs?: boolean;
  rateLimits?: "off" | "raised" | "config";
  /** "warn" (default): only the worker's warn and error lines are printed; "all": every line. */
  workerLogs?: "warn" | "all";
}
export interface StartedWorker {
  url: string;
  persistDir: string;
  pids: Record<string, number>;
  tempDirs?: string[];
  stop(): Promise<void>;
}
export declare function miniflareVersions(): { miniflare: string; workerd: string };
export declare function miniflareRunner(options: MiniflareRunnerOptions): Promise<{ id: string; description: string; bindings: string[]; start(): Promise<StartedWorker> }>;
