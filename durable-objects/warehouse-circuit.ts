// A circuit breaker per warehouse: after repeated failures its dispatches wait (open) instead of
// piling up on a dead endpoint, so one dead warehouse does not hold up the others; after a pause
// one probe is let through (half-open) and its result closes or reopens the circuit.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../workers/env";

export const FAILURES_TO_OPEN = 5;
const FIRST_PAUSE_MS = 30_000;
const MAX_PAUSE_MS = 5 * 60_000;

interface CircuitState {
  failures: number;
  openUntil: number;
  pauseMs: number;
  probing: boolean;
}

export type Admission = { admit: true } | { admit: false; retryInMs: number };

export class WarehouseCircuit extends DurableObject<Env> {
  private state: CircuitState = { failures: 0, openUntil: 0, pauseMs: FIRST_PAUSE_MS, probing: false };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.state = (await ctx.storage.get<CircuitState>("circuit")) ?? this.state;
    });
  }

  async admit(): Promise<Admission> {
    const now = Date.now();
    if (this.state.failures < FAILURES_TO_OPEN) return { admit: true };
    if (now < this.state.openUntil) return { admit: false, retryInMs: this.state.openUntil - now };
    if (this.state.probing) return { admit: false, retryInMs: 5_000 };
    this.state.probing = true; // half-open: one call finds out
    await this.save();
    return { admit: true };
  }

  async record(success: boolean): Promise<void> {
    const s = this.state;
    if (success) {
      this.state = { failures: 0, openUntil: 0, pauseMs: FIRST_PAUSE_MS, probing: false };
    } else {
      s.failures += 1;
      if (s.failures >= FAILURES_TO_OPEN) {
        // A failed probe doubles the pause.
        if (s.probing) s.pauseMs = Math.min(MAX_PAUSE_MS, s.pauseMs * 2);
        s.openUntil = Date.now() + s.pauseMs;
      }
      s.probing = false;
    }
    await this.save();
  }

  async status(): Promise<{ state: "closed" | "open" | "half-open"; failures: number; openUntil: number | null }> {
    const s = this.state;
    const state = s.failures < FAILURES_TO_OPEN ? "closed" : Date.now() < s.openUntil ? "open" : "half-open";
    return { state, failures: s.failures, openUntil: s.openUntil || null };
  }

  private save(): Promise<void> {
    return this.ctx.storage.put("circuit", this.state);
  }
}
