// Reservations, confirms and releases fail fast when their region's stock objects stop answering:
// a request that has waited STOCK_DEADLINE_MS (default 3 s) while no reservation request of its
// region got an answer from the objects gets a quick 503 stock_unavailable with Retry-After. A
// region that is merely busy keeps answering other requests, so its slow ones wait on, up to ten
// deadlines (then 503 too): a burst on a hot SKU is not turned into errors of unknown outcome.
// An object that throws rather than answers is a 503 as well, never a 500. The outcome of such a
// call is unknown to the edge, which is why the answer says to retry with the same
// Idempotency-Key: a retry finds what the first attempt did, or does it once.
import type { MiddlewareHandler } from "hono";
import type { AppEnv, Env } from "./env";
import { Problem, problemResponse } from "./problems";

const DEFAULT_DEADLINE_MS = 3_000;
const LONGEST_WAIT_DEADLINES = 10;

/** Per isolate: when a reservation request of each region last got an answer (not a 5xx). */
const lastAnswerAt = new Map<string, number>();

export function stockDeadlineMs(env: Env): number {
  const ms = Number(env.STOCK_DEADLINE_MS ?? DEFAULT_DEADLINE_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_DEADLINE_MS;
}

export function stockDeadline(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const region = c.req.param("region") ?? "";
    const deadline = stockDeadlineMs(c.env);
    const answered = next().then(() => "answered" as const);
    for (let waited = 1; ; waited++) {
      const checkAt = Date.now();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), deadline);
      });
      const outcome = await Promise.race([answered, late]);
      clearTimeout(timer);
      if (outcome === "answered") break;
      // Another request of this region was answered meanwhile: the objects are alive, only busy.
      const alive = (lastAnswerAt.get(region) ?? 0) > checkAt;
      if (!alive || waited >= LONGEST_WAIT_DEADLINES) {
        c.res = problemResponse(c, new Problem("stock_unavailable", "The stock objects did not answer in time; retry with the same Idempotency-Key"));
        return;
      }
    }
    // A stock object that threw (it is down, or restarting) rather than answering: onError logged it.
    if (c.res.status === 500 && c.error && !(c.error instanceof Problem)) {
      c.res = undefined;
      c.res = problemResponse(c, new Problem("stock_unavailable", "A stock object failed; retry with the same Idempotency-Key"));
    }
    if (c.res.status < 500) lastAnswerAt.set(region, Date.now());
  };
}
