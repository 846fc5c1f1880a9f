// Types for workloads.mjs, so Node-side tests can import it (only what they use is typed closely).
export interface WorkloadRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest(req: WorkloadRequest, ctx: Record<string, unknown>): WorkloadRequest;
  onResponse(status: number, body: string, ctx: Record<string, unknown>): void;
}
export interface Workload {
  expected: Record<string, number[]>;
  requests: WorkloadRequest[];
}
export declare const RECS_MARKETS: [market: string, acceptLanguage: string][];
export declare function recsAsk(contexts: string[][]): { context: string[]; market: string; language: string };
export declare const TURN_ORDER: number[];
export declare function skuName(prefix: string, i: number): string;
export declare function buildWorkload(w: Record<string, unknown>, counters: Record<string, unknown>, tag: (kind: string) => void): Workload;
