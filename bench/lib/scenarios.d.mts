// Types for the part of scenarios.mjs that Node-side tests import.
export interface Turns {
  sliceMs: number;
  kinds: string[];
  /** Answers of each part per block of four turns. */
  blocks: number[][];
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
}
export declare function turnsSummary(turns: Turns | null | undefined, random?: () => number): TurnsSummary | null;
