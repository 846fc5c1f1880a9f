export interface RunnerInstance {
  url: string;
  persistDir: string;
  pids: Record<string, number>;
  tempDirs?: string[];
  stop(): Promise<void>;
}
export declare function miniflareRunner(options: {
  scriptPath: string;
  configPath: string;
  env?: string;
  bindings?: Record<string, string>;
  queueConsumers?: boolean;
  storage?: "disk" | "tmpfs";
  viaEntry?: boolean;
  traceFsyncs?: boolean;
  rateLimits?: "raised" | "config";
}): Promise<{ id: string; description: string; bindings: string[]; start(): Promise<RunnerInstance> }>;
export declare function miniflareVersions(): { miniflare: string; workerd: string };
