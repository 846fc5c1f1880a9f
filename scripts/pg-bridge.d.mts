export declare function startBridge(port?: number, host?: string): Promise<{ port: number; close(): Promise<void> }>;
