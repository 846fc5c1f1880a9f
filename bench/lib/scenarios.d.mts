// Types for the part of scenarios.mjs that Node-side tests import.
export interface Turns {
  sliceMs: number;
  kinds: string[];
  /** Answers of each part per block of four turns. */
  blocks: number[][];
  /** The server's CPU time (ms) of each part per block, when the workload was given its pids. */
  cpuMs?: number[][];
  /** The answers that arrived in each turn, in order. */
  slices?: number[];
  /** The server's CPU time (ms) per turn, when the workload was given its pids. */
  sliceCpuMs?: number[];
}
export interface TurnsSummary {
  kinds: string[];
  blocks: number;
  blockSec: number;
  perSecond: [number, number];
  ratio: number;
  interval: [number, number];
  blockRange: [number, number];
  perBlock: number[];
  /** The server's CPU time per answer of each part, or null when it was not measured. */
  cpuMsPerRequest: [number, number] | null;
  /** How long a turn lasts (ms). */
  turnMs: number;
  /** Each turn in order: whose it was, the answers that arrived in it and the server's CPU time in it. */
  turns: TurnCount[];
  /** Turns with under a third of their kind's median answers. */
  stalled: (TurnCount & { turn: number })[];
}
export interface TurnCount {
  kind: string;
  answers: number;
  serverCpuMs: number | null;
}
export declare function stalledTurns(turns: TurnCount[]): (TurnCount & { turn: number })[];
export declare function turnsSummary(turns: Turns | null | undefined, random?: () => number): TurnsSummary | null;
/** The parts of a scenario the Node-side tests look at. */
export interface ScenarioShape {
  id: string;
  minWarmupSec?: number;
}
export declare function scenarioCatalog(opts: Record<string, unknown>): Record<string, ScenarioShape>;
