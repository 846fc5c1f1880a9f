export declare function startBridge(
  port?: number,
  host?: string,
  options?: { exclusive?: boolean },
): Promise<{ port: number; close(): Promise<void> }>;
