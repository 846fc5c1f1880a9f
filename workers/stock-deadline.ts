// Reservations, confirms and releases wait for their stock objects at most STOCK_DEADLINE_MS
// (default 3 s). An object that does not answer by then, or fails without an answer of its own,
// gets the shopper a quick 503 stock_unavailable with Retry-After, never a 500 or a hang. The
// outcome of such a call is unknown to the edge, which is why the answer says to retry with the
// same Idempotency-Key: a retry finds what the first attempt did, or does it once.
import type { MiddlewareHandler } from "hono";
import type { AppEnv, Env } from "./env";
import { Problem, problemResponse } from "./problems";

const DEFAULT_DEADLINE_MS = 3_000;

export function stockDeadlineMs(env: Env): number {
  const ms = Number(env.STOCK_DEADLINE_MS ?? DEFAULT_DEADLINE_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_DEADLINE_MS;
}

export function stockDeadline(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), stockDeadlineMs(c.env));
    });
    const outcome = await Promise.race([next().then(() => "answered" as const), late]);
    clearTimeout(timer);
    if (outcome === "late") {
      c.res = problemResponse(c, new Problem("stock_unavailable", "The stock objects did not answer in time; retry with the same Idempotency-Key"));
      return;
    }
    // A stock object that threw (it is down, or restarting) rather than answering: onError logged it.
    if (c.res.status === 500 && c.error && !(c.error instanceof Problem)) {
      c.res = undefined;
      c.res = problemResponse(c, new Problem("stock_unavailable", "A stock object failed; retry with the same Idempotency-Key"));
    }
  };
}
