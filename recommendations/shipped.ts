// The bought-together model the build ships, as `npm run recs:eval` chose it: its family and
// parameters live here, once, so the build (cron and `npm run recs:build`) and the evaluation fit
// exactly the same thing. Re-run the evaluator after changing them (docs/recommendations.md).
import { boughtTogether, type Scored } from "./co-purchase";
import { ease, itemSpace, rp3beta, toLists } from "./models";

/** How long each stored list is. */
export const LIST_LENGTH = { boughtTogether: 50, forYou: 30, popular: 50, popularInCategory: 20 } as const;

/** `popular`: the weight of popular items beside a companion scored 1 when the route blends (blend.ts). */
export type ShippedModel =
  | { kind: "ease"; params: { lambda: number; neighbours: number; popular: number } }
  | { kind: "rp3beta"; params: { alpha: number; beta: number; neighbours: number; popular: number } }
  /** mix·EASE/max|EASE| + (1 - mix)·RP3beta/max RP3beta: the two agree on companions, differ on the tail. */
  | { kind: "blend"; params: { lambda: number; alpha: number; beta: number; mix: number; neighbours: number; popular: number } };

export const SHIPPED_MODEL: ShippedModel = { kind: "blend", params: { lambda: 400, alpha: 0.5, beta: 0.2, mix: 0.8, neighbours: 50, popular: 0.15 } };

/**
 * The dense models hold an n-by-n matrix of doubles (8·n² bytes; EASE also inverts it, ~n³
 * multiply-adds). 1,500 items: two 18 MB matrices and about 5 s of CPU (measured in Node): inside a Worker's 128 MB and a
 * cron invocation's CPU budget. Beyond it the build falls back to the sparse co-purchase lists
 * (co-purchase.ts), and the offline build (scripts/recs-offline-build.ts) is the path for EASE.
 */
export const MAX_DENSE_ITEMS = 1_500;

export function shippedLists(
  baskets: readonly (readonly string[])[],
  model: ShippedModel = SHIPPED_MODEL,
  maxItems = MAX_DENSE_ITEMS,
): Map<string, Scored[]> & { fallback?: true } {
  const space = itemSpace(baskets);
  if (space.items.length > maxItems) return Object.assign(boughtTogether(baskets, { neighbours: model.params.neighbours }), { fallback: true as const });
  const n = space.items.length;
  if (model.kind === "ease") return toLists(ease(space, model.params.lambda), model.params.neighbours);
  if (model.kind === "rp3beta") return toLists(rp3beta(space, model.params.alpha, model.params.beta, n), model.params.neighbours);
  const { lambda, alpha, beta, mix, neighbours } = model.params;
  const e = ease(space, lambda).w;
  const r = rp3beta(space, alpha, beta, n).w;
  let maxE = 0;
  let maxR = 0;
  for (let i = 0; i < e.length; i++) {
    maxE = Math.max(maxE, Math.abs(e[i]!));
    maxR = Math.max(maxR, r[i]!);
  }
  for (let i = 0; i < e.length; i++) e[i] = (mix * e[i]!) / (maxE || 1) + ((1 - mix) * r[i]!) / (maxR || 1);
  return toLists({ space, w: e }, neighbours);
}
