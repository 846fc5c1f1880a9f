// Types for runner-miniflare.mjs, so Node-side tests can import it from TypeScript.
export interface MiniflareRunnerOptions {
  scriptPath: string;
  configPath: string;
  env?: string;
  bindings?: Record<string, string>;
  queueConsumers?: boolean;
  storage?: "disk" | "tmpfs";
  viaEntry?: boolean;
  traceFsyncs?: boolean;
}
export interface StartedWorker {
  url: string;
  stop(): Promise<void>;
}
export declare function miniflareVersions(): { miniflare: string; workerd: string };
export declare function miniflareRunner(options: MiniflareRunnerOptions): Promise<{ id: string; description: string; start(): Promise<StartedWorker> }>;
