// What each connection of the load generator sends, as autocannon request sequences. Runs inside
// the load generator process (load-child.mjs); the parent sends only a plain description:
//
//   { kind: "flash", region, sku, apiKey, keyPrefix, confirmRatio, ttlSeconds }
//     a shopper reserves 1 unit of the hot SKU; one who got 201 then confirms (with probability
//     confirmRatio) or releases, with the token from the answer; then the next shopper comes.
//   { kind: "carts", region, skuPrefix, skuCount, lines, apiKey, keyPrefix, ttlSeconds }
//     reservations of `lines` distinct random SKUs (qty 1 each) out of skuCount.
//   { kind: "reads", region, skuPrefix, skuCount, perRequest, apiKey }
//     GET availability of `perRequest` distinct random SKUs; the answer must list all of them.
//   { kind: "recs", region, contexts, consentShare, shoppers, outOfStock, apiKey, tag? }
//     GET recommendations (limit 10) next to 1-3 SKUs of a held-out basket (a product page or a
//     cart), in a random market and language; a share of the requests from a consenting shopper
//     (Shopper-Id + Personalization-Consent). Counted: answers with no items, answers marked
//     availability "unknown", and out-of-stock SKUs shown. Answers are of kind `tag` (default
//     "recommend").
//   { kind: "outage", regions: [down, up], skuPrefix, skuCount, perRequest, readShare, apiKey, keyPrefix, ttlSeconds }
//     per request, at random: a read of `perRequest` SKUs or a one-line reservation (qty 1), in
//     either region; kinds read-<region> and reserve-<region>. Stale reads are counted.
//   { kind: "turns", sliceMs, durationSec, parts: [a, b], serverPids? }
//     two single-request workloads taking turns on every connection, in slices of sliceMs in the
//     order a b b a, a b b a, ...: each block of four slices gives both the same stretch of time,
//     and a drift in the machine's speed inside a block counts the same for both. Each answer keeps
//     its part's kind; counters.turns gets the answers of each part per block (those that arrive
//     while the run drains count in the last whole block, whose requests they are). With
//     serverPids, counters.turns.cpuMs gets the server's CPU time per part per block as well.
//   { kind: "get", path }
//     the same GET again and again (the no-op ceiling).
//   { kind: "static", method, path, headers, body, uniqueHeader? }
//     one fixed request, optionally with a unique header per request (bench:reserve).
//
// Every request carries a `kind` (reserve, confirm, release, read, get) so statuses and latency
// are reported per kind. `counters.sent` counts requests actually written: autocannon builds a
// request only when it is about to send it.
import { cpuTimeOfMs } from "./proc.mjs";

/** The recs workload's markets, each with the Accept-Language its shoppers send. */
export const RECS_MARKETS = [
  ["FR", "fr-FR, fr;q=0.9, en;q=0.5"],
  ["DE", "de-DE, de;q=0.9"],
  ["GB", "en-GB, en;q=0.9"],
  ["NL", "nl-NL, en;q=0.5"],
];

/** What one recommendation request asks, at random: the first 1-3 SKUs of one of `contexts` (baskets), in one of RECS_MARKETS. */
export function recsAsk(contexts) {
  const basket = contexts[Math.floor(Math.random() * contexts.length)];
  const context = basket.slice(0, 1 + Math.floor(Math.random() * Math.min(3, basket.length)));
  const [market, language] = RECS_MARKETS[Math.floor(Math.random() * RECS_MARKETS.length)];
  return { context, market, language };
}

/** Whose turn each slice of a "turns" workload is, block after block: a b b a. */
export const TURN_ORDER = [0, 1, 1, 0];

export function skuName(prefix, i) {
  return `${prefix}${String(i).padStart(4, "0")}`;
}

function pickDistinct(count, n) {
  const picked = new Set();
  while (picked.size < n) picked.add(Math.floor(Math.random() * count));
  return [...picked];
}

/** Returns { requests, expected: { kind: [statuses] } }; `tag(kind)` is called as each answer arrives. */
export function buildWorkload(w, counters, tag) {
  const json = { "content-type": "application/json" };
  switch (w.kind) {
    case "flash": {
      const body = JSON.stringify({ lines: [{ sku: w.sku, qty: 1 }], ttlSeconds: w.ttlSeconds });
      return {
        expected: { reserve: [201, 409], confirm: [200], release: [200] },
        requests: [
          {
            method: "POST",
            path: `/v1/${w.region}/reservations`,
            headers: { ...json, "x-api-key": w.apiKey },
            body,
            setupRequest(req, ctx) {
              counters.sent++;
              req.headers["idempotency-key"] = `${w.keyPrefix}${counters.sent}`;
              ctx.hold = null;
              return req;
            },
            onResponse(status, resBody, ctx) {
              tag("reserve");
              if (status === 201) {
                const r = JSON.parse(resBody);
                ctx.hold = { id: r.id, token: r.token };
              }
            },
          },
          {
            method: "POST",
            setupRequest(req, ctx) {
              // A shopper who was refused leaves: returning nothing starts the next shopper.
              if (!ctx.hold) return null;
              counters.sent++;
              ctx.next = Math.random() < w.confirmRatio ? "confirm" : "release";
              req.path = `/v1/${w.region}/reservations/${ctx.hold.id}/${ctx.next}`;
              req.headers = { "x-api-key": w.apiKey, "x-reservation-token": ctx.hold.token };
              if (ctx.next === "confirm") req.headers["idempotency-key"] = `${w.keyPrefix}${counters.sent}`;
              return req;
            },
            onResponse(_status, _body, ctx) {
              tag(ctx.next);
            },
          },
        ],
      };
    }
    case "carts":
      return {
        expected: { reserve: [201, 409] },
        requests: [
          {
            method: "POST",
            path: `/v1/${w.region}/reservations`,
            headers: { ...json, "x-api-key": w.apiKey },
            setupRequest(req) {
              counters.sent++;
              req.headers["idempotency-key"] = `${w.keyPrefix}${counters.sent}`;
              const lines = pickDistinct(w.skuCount, w.lines).map((i) => ({ sku: skuName(w.skuPrefix, i), qty: 1 }));
              req.body = JSON.stringify({ lines, ttlSeconds: w.ttlSeconds });
              return req;
            },
            onResponse() {
              tag("reserve");
            },
          },
        ],
      };
    case "reads":
      return {
        expected: { read: [200] },
        requests: [
          {
            method: "GET",
            headers: { "x-api-key": w.apiKey },
            setupRequest(req) {
              counters.sent++;
              const skus = pickDistinct(w.skuCount, w.perRequest).map((i) => skuName(w.skuPrefix, i));
              req.path = `/v1/${w.region}/availability?skus=${skus.join(",")}`;
              return req;
            },
            onResponse(status, resBody) {
              // Cheap check that the answer is whole: one item per SKU asked for.
              if (status === 200 && resBody.split('"sku"').length - 1 !== w.perRequest) counters.badBodies++;
              tag("read");
            },
          },
        ],
      };
    case "recs": {
      const shown = new RegExp(`"sku":"(${w.outOfStock.join("|")})"`, "g");
      return {
        expected: { [w.tag ?? "recommend"]: [200] },
        requests: [
          {
            method: "GET",
            setupRequest(req) {
              counters.sent++;
              const { context, market, language } = recsAsk(w.contexts);
              req.path = `/v1/${w.region}/recommendations?context=${context.join(",")}&market=${market}&limit=10`;
              req.headers = { "x-api-key": w.apiKey, "accept-language": language };
              if (Math.random() < w.consentShare) {
                req.headers["shopper-id"] = `bench-shopper-${Math.floor(Math.random() * w.shoppers)}`;
                req.headers["personalization-consent"] = "granted";
              }
              return req;
            },
            onResponse(status, resBody) {
              if (status === 200) {
                if (!resBody.includes('"items":[{')) counters.badBodies++;
                if (resBody.includes('"availability":"unknown"')) counters.unknownAvailability++;
                if (w.outOfStock.length && shown.test(resBody)) counters.outOfStockShown++;
                shown.lastIndex = 0;
              }
              tag(w.tag ?? "recommend");
            },
          },
        ],
      };
    }
    case "outage": {
      const [down, up] = w.regions;
      return {
        // The region that is down may answer reads stale (200) and refuse writes (503); the other may not.
        expected: { [`read-${down}`]: [200], [`reserve-${down}`]: [201, 503], [`read-${up}`]: [200], [`reserve-${up}`]: [201] },
        requests: [
          {
            method: "GET",
            setupRequest(req, ctx) {
              counters.sent++;
              const region = Math.random() < 0.5 ? down : up;
              const read = Math.random() < w.readShare;
              ctx.kind = `${read ? "read" : "reserve"}-${region}`;
              if (read) {
                const skus = pickDistinct(w.skuCount, w.perRequest).map((i) => skuName(w.skuPrefix, i));
                return { ...req, method: "GET", path: `/v1/${region}/availability?skus=${skus.join(",")}`, headers: { "x-api-key": w.apiKey }, body: undefined };
              }
              const sku = skuName(w.skuPrefix, Math.floor(Math.random() * w.skuCount));
              return {
                ...req,
                method: "POST",
                path: `/v1/${region}/reservations`,
                headers: { ...json, "x-api-key": w.apiKey, "idempotency-key": `${w.keyPrefix}${counters.sent}` },
                body: JSON.stringify({ lines: [{ sku, qty: 1 }], ttlSeconds: w.ttlSeconds }),
              };
            },
            onResponse(status, resBody, ctx) {
              if (status === 200 && ctx.kind.startsWith("read-") && resBody.includes('"stale":true')) counters.staleReads++;
              tag(ctx.kind);
            },
          },
        ],
      };
    }
    case "turns": {
      const parts = w.parts.map((p) => buildWorkload(p, counters, tag));
      for (const p of parts) if (p.requests.length !== 1) throw new Error("turns: each part is one request");
      const startedAt = performance.now();
      const order = TURN_ORDER;
      const slice = () => Math.floor((performance.now() - startedAt) / w.sliceMs);
      const blocks = Math.max(1, Math.floor((w.durationSec * 1000) / (order.length * w.sliceMs)));
      const turns = (counters.turns = {
        sliceMs: w.sliceMs,
        kinds: parts.map((p) => Object.keys(p.expected)[0]),
        blocks: Array.from({ length: blocks }, () => parts.map(() => 0)),
        // Answers that arrived in each turn, in order, whichever part sent them (a late answer
        // counts in the turn it arrived in): which turns stalled.
        slices: Array.from({ length: blocks * order.length }, () => 0),
      });
      // The server's CPU time (w.serverPids, read from /proc) split by whose turn it was: read at
      // the first request or answer after each turn ends, and counted to the turn that ended.
      const cpuAtStart = w.serverPids === undefined ? null : cpuTimeOfMs(w.serverPids);
      const cpu = cpuAtStart === null ? null : { slice: 0, at: cpuAtStart };
      if (cpu) {
        turns.cpuMs = turns.blocks.map((b) => b.map(() => 0));
        turns.sliceCpuMs = turns.slices.map(() => 0);
      }
      const countCpu = (now) => {
        if (cpu === null || now === cpu.slice) return;
        const at = cpuTimeOfMs(w.serverPids);
        if (at === null) return;
        turns.cpuMs[Math.min(blocks - 1, Math.floor(cpu.slice / order.length))][order[cpu.slice % order.length]] += at - cpu.at;
        turns.sliceCpuMs[Math.min(turns.slices.length - 1, cpu.slice)] += at - cpu.at;
        cpu.slice = now;
        cpu.at = at;
      };
      return {
        expected: Object.assign({}, ...parts.map((p) => p.expected)),
        requests: [
          {
            method: "GET",
            setupRequest(req, ctx) {
              const now = slice();
              countCpu(now);
              const part = order[now % order.length];
              ctx.part = part;
              const { method, path, headers, body, setupRequest } = parts[part].requests[0];
              return setupRequest({ ...req, method, path, headers: { ...headers }, body }, ctx);
            },
            onResponse(status, resBody, ctx) {
              parts[ctx.part].requests[0].onResponse(status, resBody, ctx);
              const now = slice();
              countCpu(now);
              turns.blocks[Math.min(blocks - 1, Math.floor(now / order.length))][ctx.part]++;
              turns.slices[Math.min(turns.slices.length - 1, now)]++;
            },
          },
        ],
      };
    }
    case "get":
      return {
        expected: { get: [200] },
        requests: [
          {
            method: "GET",
            path: w.path,
            setupRequest(req) {
              counters.sent++;
              return req;
            },
            onResponse() {
              tag("get");
            },
          },
        ],
      };
    case "static":
      return {
        expected: { [w.tag ?? "request"]: w.expected ?? [] },
        requests: [
          {
            method: w.method,
            path: w.path,
            headers: w.headers ?? {},
            ...(w.body !== undefined && { body: w.body }),
            setupRequest(req) {
              counters.sent++;
              if (w.uniqueHeader) req.headers[w.uniqueHeader.name] = `${w.uniqueHeader.prefix}${counters.sent}`;
              return req;
            },
            onResponse() {
              tag(w.tag ?? "request");
            },
          },
        ],
      };
    default:
      throw new Error(`unknown workload kind '${w.kind}'`);
  }
}
