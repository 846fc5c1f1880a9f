// How SKU objects and stock shards feed the availability read model (availability-page.ts): after
// a committed change, the writer sends its snapshot to its page, coalesced over PUBLISH_WINDOW_MS,
// from outside the change (a wrapper around the writer's methods, not a line in each of them).
// Nothing is written in the writer for this: the reservation path keeps its one commit, and the
// send happens after its answer. A send that fails is retried with backoff while the object lives;
// if the object dies first, its alarm (due within OUTBOX_SAFETY_MS of every write) publishes again.
import type { Env } from "../workers/env";
import { pageName, pageOf, type PagePart } from "./availability-page";
import { warn } from "../observability/log";

/** A change waits this long for others to share its publish: at most 1 / window sends per writer. */
export const PUBLISH_WINDOW_MS = 100;
/**
 * What the edge allows for the window plus the call to the page: an answer counts as this much
 * older than its page (so the staleness bound holds end to end, publish lag included).
 */
export const PUBLISH_LAG_MS = 500;
// Retries stay frequent: a page that is back but missed a publish serves it late until then.
const MAX_RETRY_MS = 2_000;

interface Publishing {
  due: boolean;
  /** What the page last accepted from this writer, so an unchanged state is not sent again. */
  sent: string | null;
  failures: number;
}

/** A writer's part of its SKU-region, and the region (its identity, stored: not ctx.id.name). */
export interface Published {
  region: string;
  part: PagePart;
}

type Writer = { ctx: DurableObjectState; env: Env };
const publishing = new WeakMap<object, Publishing>();

/** After each of `methods` (successful or not: a commit may precede an error), publish soon. */
export function publishAfter<T extends object>(
  cls: { name: string; prototype: T },
  methods: readonly (keyof T & string)[],
  partOf: (writer: T) => Published | null,
): void {
  const proto = cls.prototype as Record<string, unknown>;
  for (const name of methods) {
    const method = proto[name];
    if (typeof method !== "function") throw new Error(`${cls.name}.${name} is not a method`);
    proto[name] = async function (this: T, ...args: unknown[]) {
      try {
        return await (method as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        publishSoon(this, partOf);
      }
    };
  }
}

function publishSoon<T extends object>(writer: T, partOf: (writer: T) => Published | null, delay = PUBLISH_WINDOW_MS): void {
  let state = publishing.get(writer);
  if (!state) publishing.set(writer, (state = { due: false, sent: null, failures: 0 }));
  if (state.due) return;
  state.due = true;
  const { ctx, env } = writer as unknown as Writer;
  const send = new Promise((resolve) => setTimeout(resolve, delay)).then(async () => {
    state.due = false;
    const published = partOf(writer);
    if (!published) return;
    const { region, part } = published;
    const signature = `${part.version}:${part.available}:${part.shards}`;
    if (signature === state.sent) return;
    try {
      const pages = env.AVAILABILITY_PAGES;
      await pages.get(pages.idFromName(pageName(region, pageOf(part.sku)))).publish([part]);
      state.sent = signature;
      state.failures = 0;
    } catch (err) {
      state.failures++;
      const retryIn = Math.min(MAX_RETRY_MS, 500 * 2 ** (state.failures - 1));
      if (state.failures === 1) warn("read_model_publish_failed", { region, sku: part.sku, error: err, retry: `in ${retryIn} ms` });
      publishSoon(writer, partOf, retryIn);
    }
  });
  ctx.waitUntil(send);
}
