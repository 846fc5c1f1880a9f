// A circuit breaker per warehouse: after repeated failures its dispatches wait (open) instead of
// piling up on a dead endpoint, so one dead warehouse does not hold up the others; after a pause
// one probe is let through (half-open) and its result closes or reopens the circuit.
// The probe holds a lease, not a flag: a probe whose invocation dies (or that throws before it can
// report) stops blocking once its lease runs out, and the next dispatch probes again.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../workers/env";

export const FAILURES_TO_OPEN = 5;
const FIRST_PAUSE_MS = 30_000;
const MAX_PAUSE_MS = 5 * 60_000;
/** How long a probe may take before another is let through, unless the caller says (its fetch timeout + margin). */
export const DEFAULT_PROBE_LEASE_MS = 70_000;
const MAX_PROBE_LEASE_MS = 5 * 60_000;

interface CircuitState {
  failures: number;
  openUntil: number;
  pauseMs: number;
  /** While a probe is out: when its lease ends (0: no probe out). */
  probeUntil: number;
}

/** What older versions stored: `probing` without a lease, which never ended by itself. */
type StoredState = Partial<CircuitState> & { probing?: boolean };

export type Admission = { admit: true; probe: boolean } | { admit: false; retryInMs: number };
export type CircuitStatus = {
  state: "closed" | "open" | "half-open";
  failures: number;
  openUntil: number | null;
  probeUntil: number | null;
};

const CLOSED: CircuitState = { failures: 0, openUntil: 0, pauseMs: FIRST_PAUSE_MS, probeUntil: 0 };

export class WarehouseCircuit extends DurableObject<Env> {
  private state: CircuitState = { ...CLOSED };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const stored = await ctx.storage.get<StoredState>("circuit");
      // A `probing` flag left by an older version has no lease: treat it as expired.
      if (stored) this.state = { ...CLOSED, ...stored, probeUntil: stored.probeUntil ?? 0 };
    });
  }

  /** `leaseMs`: how long the caller's probe may take at most (its fetch timeout plus a margin). */
  async admit(leaseMs = DEFAULT_PROBE_LEASE_MS): Promise<Admission> {
    const now = Date.now();
    const s = this.state;
    if (s.failures < FAILURES_TO_OPEN) return { admit: true, probe: false };
    if (now < s.openUntil) return { admit: false, retryInMs: s.openUntil - now };
    if (now < s.probeUntil) return { admit: false, retryInMs: Math.max(1_000, s.probeUntil - now) };
    // Half-open: one call finds out, for at most its lease.
    s.probeUntil = now + Math.min(MAX_PROBE_LEASE_MS, Math.max(1, Math.floor(leaseMs)));
    await this.save();
    return { admit: true, probe: true };
  }

  async record(success: boolean): Promise<void> {
    const s = this.state;
    if (success) {
      this.state = { ...CLOSED };
    } else {
      s.failures += 1;
      if (s.failures >= FAILURES_TO_OPEN) {
        // A failed probe doubles the pause.
        if (s.probeUntil) s.pauseMs = Math.min(MAX_PAUSE_MS, s.pauseMs * 2);
        s.openUntil = Date.now() + s.pauseMs;
      }
      s.probeUntil = 0;
    }
    await this.save();
  }

  /** A probe that could not even be sent (say, signing failed) gives its lease back, judging nothing. */
  async abandonProbe(): Promise<void> {
    if (!this.state.probeUntil) return;
    this.state.probeUntil = 0;
    await this.save();
  }

  /** An operator closes the circuit (the warehouse is known to be back). Repeating it changes nothing. */
  async reset(): Promise<CircuitStatus> {
    this.state = { ...CLOSED };
    await this.save();
    return this.status();
  }

  async status(): Promise<CircuitStatus> {
    const s = this.state;
    const now = Date.now();
    const state = s.failures < FAILURES_TO_OPEN ? "closed" : now < s.openUntil ? "open" : "half-open";
    return { state, failures: s.failures, openUntil: s.openUntil || null, probeUntil: s.probeUntil > now ? s.probeUntil : null };
  }

  private save(): Promise<void> {
    return this.ctx.storage.put("circuit", this.state);
  }
}
