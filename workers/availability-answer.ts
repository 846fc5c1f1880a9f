// The availability route's answer, built from pieces kept beside each page copy in isolate memory
// (workers/snapshot-cache.ts): a SKU's JSON and its ETag lanes are worked out once per page copy
// (so at most once per page refresh), not once per request. A hot read then joins ready strings.
// The body is byte for byte what JSON.stringify of the same answer would give.
import type { Env } from "./env";
import { NEVER_STOCKED, type SkuAvailability } from "./snapshot-cache";
import { stockStatus } from "./routes/common";

interface Piece {
  /** LOW_STOCK_THRESHOLD the status was decided with. */
  threshold: string;
  json: string;
  lanes: readonly [number, number, number, number];
}

// Keyed by the page copy's entry for the SKU: an entry is never changed (a SKU whose state changed
// gets a new one), so a piece cannot outlive the state it was made from.
const pieces = new WeakMap<SkuAvailability, Piece>();
let built = 0;

/** How many SKU pieces this isolate has worked out (tests: a hot read builds none). */
export function piecesBuilt(): number {
  return built;
}

function pieceOf(sku: string, s: SkuAvailability, env: Env): Piece {
  const threshold = env.LOW_STOCK_THRESHOLD;
  const known = s === NEVER_STOCKED ? undefined : pieces.get(s);
  if (known && known.threshold === threshold) return known;
  const item = { sku, available: s.available, status: stockStatus(s.available, env), version: s.version };
  const piece: Piece = { threshold, json: JSON.stringify(item), lanes: lanesOf(`${sku}:${s.version}:${s.available}`) };
  built++;
  if (s !== NEVER_STOCKED) pieces.set(s, piece);
  return piece;
}

export interface AvailabilityAnswer {
  /** The JSON body, items in request order. */
  body: string;
  /** A weak ETag over every SKU's version and units, in order. */
  etag: string;
}

/** The answer's body and ETag; `stale` adds `stale: true` and the answer's age. */
export function availabilityAnswer(
  env: Env,
  region: string,
  skus: readonly string[],
  items: ReadonlyMap<string, SkuAvailability>,
  asOf: string,
  stale?: { ageSeconds: number },
): AvailabilityAnswer {
  const lanes = [0x811c9dc5, 0x050c5d1f, 0x1b873593, 0x2f8b3c4d];
  let list = "";
  for (let i = 0; i < skus.length; i++) {
    const sku = skus[i]!;
    const piece = pieceOf(sku, items.get(sku)!, env);
    list += i === 0 ? piece.json : `,${piece.json}`;
    for (let l = 0; l < 4; l++) lanes[l] = Math.imul(lanes[l]! ^ piece.lanes[l]!, 0x01000193);
  }
  const tail = stale ? `,"stale":true,"ageSeconds":${JSON.stringify(stale.ageSeconds)}` : "";
  return {
    body: `{"region":${JSON.stringify(region)},"items":[${list}],"asOf":${JSON.stringify(asOf)}${tail}}`,
    etag: `W/"${lanes.map((h) => (h >>> 0).toString(16).padStart(8, "0")).join("")}"`,
  };
}

/**
 * A weak ETag needs to change when the answer does, not to resist forgery: four FNV-1a lanes
 * (128 bits) per SKU over its name, version and units, with no async crypto call.
 */
function lanesOf(text: string): [number, number, number, number] {
  const lanes: [number, number, number, number] = [0x811c9dc5, 0x050c5d1f, 0x1b873593, 0x2f8b3c4d];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    for (let l = 0; l < 4; l++) lanes[l] = Math.imul(lanes[l]! ^ (ch + l), 0x01000193);
  }
  return lanes;
}
