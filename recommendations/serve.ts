// One recommendation answer, from the lists (through recommendations/list-cache.ts) and an
// availability check: what GET /v1/{region}/recommendations sends, with the HTTP around it left to
// the caller (workers/routes/recommendations.ts; the bench's Node peers serve the same answer from
// Redis or Postgres with this very function, so the bench compares runtimes and stores only).
import type { z } from "@hono/zod-openapi";
import type { RecommendationsResponse } from "../schema/contracts";
import { type Candidate, cardPageSize, pick, type Picked, type PickedItem, type Ranking, rankWithoutShopper, withShopper } from "./blend";
import { acceptedLanguages, localName, MARKETS } from "./markets";
import type { Scored } from "./co-purchase";
import { type Card, cardHeld, type Lists, loadEntries, READ_BOUNDS, readLists, userKey, versionInMemory, type VersionView, viewOf } from "./store";

/** The most SKUs one request asks availability for (looked up a read-model page at a time). */
export const maxAvailabilityChecks = (limit: number) => 2 * limit + 10;

export interface RecommendationRequest {
  region: string;
  context: readonly string[];
  limit: number;
  /** A known market (the caller checked it), or null for a region without markets. */
  market: string | null;
  /** The shopper's pseudonym: only with consent. */
  shopper?: string;
  acceptLanguage?: string;
}

export interface RecommendationSources {
  lists: Lists;
  /**
   * Units available per SKU asked for (a SKU left out has none), or null when availability cannot
   * be had in time. Entries as the caller keeps them (the read model's own, in the Worker), not copied.
   */
  available: (skus: string[]) => Promise<ReadonlyMap<string, { readonly available: number }> | null>;
  /** The units of each of these SKUs, in their order, at once when this process holds them in memory; undefined when it would have to ask (then `available`). */
  unitsInMemory?: (skus: readonly string[]) => readonly number[] | undefined;
  /** How many SKUs' availability one request may ask for in all. */
  maxChecks: number;
  status: (available: number) => "in_stock" | "low_stock" | "out_of_stock";
  /** Told whether the precomputed lists had everything asked for (the shopper's list, each context SKU). */
  cacheHit?: (hit: boolean) => void;
  /** Where answers that are not personalised are kept, and served from while still right (`AnswerMemo`). */
  memo?: AnswerMemo;
  /** Told when the answer is one the memo kept. */
  fromMemo?: () => void;
}

type Answer = z.infer<typeof RecommendationsResponse>;

/**
 * The answer as an object of the contract's type. The route and the bench's peers send
 * `recommendText`; this is the form test/recommendation-text.property.test.ts holds that text to.
 */
export async function recommend(request: RecommendationRequest, sources: RecommendationSources): Promise<Answer> {
  const chosen = await choose(request, sources);
  sources.cacheHit?.(chosen.cacheHit);
  return answerObject(chosen);
}

/**
 * The answer as JSON text: byte for byte `JSON.stringify(await recommend(...))`, joined from pieces
 * kept per card (its name in the language chosen, brand, category and price in the market) rather
 * than built as objects and serialised on every request.
 */
export async function recommendText(request: RecommendationRequest, sources: RecommendationSources): Promise<string> {
  return recommendTextAtOnce(request, sources);
}

/**
 * `recommendText`, answered at once (no promise) when the memo holds a right answer or this
 * isolate holds everything the answer is worked out from: the route asks this, since an await
 * costs a busy isolate more than the whole lookup.
 */
export function recommendTextAtOnce(request: RecommendationRequest, sources: RecommendationSources): string | Promise<string> {
  const held = heldInMemory(sources.lists, request);
  const kept = sources.memo?.answer(request, sources, held);
  if (kept === undefined) return workedOut(request, sources, held);
  sources.cacheHit?.(kept.cacheHit);
  sources.fromMemo?.();
  return kept.text;
}

/** The answer the memo did not have: chosen, joined, and kept when it may be served again; at once when nothing had to be read. */
function workedOut(request: RecommendationRequest, sources: RecommendationSources, held?: HeldInMemory): string | Promise<string> {
  const chosen = choose(request, sources, held);
  return chosen instanceof Promise ? chosen.then((c) => joined(request, sources, c)) : joined(request, sources, chosen);
}

function joined(request: RecommendationRequest, sources: RecommendationSources, chosen: Chosen): string {
  sources.cacheHit?.(chosen.cacheHit);
  const text = answerText(chosen);
  sources.memo?.keep(request, chosen, text);
  return text;
}

/** What a kept answer was worked out from. */
interface KeptAnswer {
  version: string;
  text: string;
  /** Every SKU whose availability the answer looked up, and the units it saw (in the same order). */
  skus: string[];
  units: number[];
  /** Whether the lists held every context SKU's (the cache hit of a request without a shopper). */
  contextHit: boolean;
  bytes: number;
}

/** A kept answer served again: its text, and whether the lists had everything this request asked for. */
export interface MemoAnswer {
  text: string;
  cacheHit: boolean;
}

/** What an isolate keeps of answers at most: about 5,500 answers of 10 items (2.4 KB of text each, plus the SKUs and units they saw). */
export const ANSWER_MEMO_BYTES = 16 * 1024 * 1024;

/**
 * Answers that are not personalised, kept per isolate: product pages and carts ask the same thing
 * again and again. Such an answer depends on the lists' version, the request (context, limit,
 * market, Accept-Language) and the units of each SKU whose availability it looked up, nothing else:
 * pick() walks a fixed ranking and decides each step from those units alone, and only through
 * whether a SKU has any (it skips one without) and its status (what the answer shows). So a kept
 * answer is served only while the region still serves the same version and this isolate's fresh
 * availability pages show, for every one of those SKUs, units with the same status as before
 * (`sameAnswer`): a sale that leaves a SKU in stock keeps the answer, during a flash sale too;
 * anything else (a pointer or a page to be read, a SKU running low, out or back) works the answer
 * out again. A consenting shopper with no list of their own (none built, or erased) gets that same
 * answer, once this isolate holds the list's absence. Answers made with a shopper's list are never
 * kept (lists expire and can be erased), nor are answers whose availability was unknown. Memory: at
 * most `budget` bytes of text, the oldest going first.
 */
export class AnswerMemo {
  private kept = new Map<string, KeptAnswer>();
  private bytes = 0;
  /** Answers served from the memo, and requests it could have served but could not (for tests). */
  hits = 0;
  misses = 0;

  constructor(private budget = ANSWER_MEMO_BYTES) {}

  /** The kept answer to `request`, if there is one and it is still right; never a promise. `held`: what `heldInMemory` found, when the caller looked. */
  answer(request: RecommendationRequest, sources: Pick<RecommendationSources, "lists" | "unitsInMemory" | "status">, held = heldInMemory(sources.lists, request)): MemoAnswer | undefined {
    if (!sources.unitsInMemory) return undefined;
    const { version, ownList } = held;
    // A shopper's answer is the one without a shopper when their list is known to be absent or empty.
    if (request.shopper !== undefined) {
      if (!version) return undefined;
      if (ownList === undefined || (ownList !== null && ownList.length > 0)) return undefined;
    }
    const key = memoKey(request);
    const kept = this.kept.get(key);
    if (kept === undefined || kept.version !== version) return this.miss();
    const units = sources.unitsInMemory(kept.skus);
    if (units === undefined) return this.miss();
    for (let i = 0; i < kept.skus.length; i++) if (!sameAnswer(units[i]!, kept.units[i]!, sources.status)) return this.miss();
    this.hits++;
    // No list read for a shopper is a miss of the precomputed lists (as choose() counts it).
    return { text: kept.text, cacheHit: kept.contextHit && (request.shopper === undefined || ownList !== null) };
  }

  /** Keeps the answer `text`, worked out as `chosen` says, if it may be served again. */
  keep(request: RecommendationRequest, chosen: Chosen, text: string): void {
    if (chosen.personalised || chosen.version === null || chosen.picked.availability !== "checked") return;
    const key = memoKey(request);
    const { checked: skus, checkedUnits: units } = chosen.picked;
    const kept: KeptAnswer = { version: chosen.version, text, skus, units, contextHit: chosen.contextHit, bytes: textBytes(key) + textBytes(text) + 24 * skus.length + 100 };
    this.drop(key);
    if (kept.bytes > this.budget) return;
    this.kept.set(key, kept);
    this.bytes += kept.bytes;
    for (const [oldest, k] of this.kept) {
      if (this.bytes <= this.budget) break;
      this.kept.delete(oldest);
      this.bytes -= k.bytes;
    }
  }

  /** How many answers are kept. */
  get size(): number {
    return this.kept.size;
  }

  private miss(): undefined {
    this.misses++;
    return undefined;
  }

  private drop(key: string) {
    const k = this.kept.get(key);
    if (!k) return;
    this.kept.delete(key);
    this.bytes -= k.bytes;
  }
}

/**
 * Whether units `now` give the answer that units `then` gave, for one SKU it looked up: pick() asks
 * only whether there are any, the text only their status.
 */
const sameAnswer = (now: number, then: number, status: RecommendationSources["status"]) =>
  now === then || ((now > 0) === (then > 0) && status(now) === status(then));

/** What V8 holds a string in: a byte a character when every one is Latin-1, else two. */
const textBytes = (s: string) => (/[^\u0000-\u00ff]/.test(s) ? 2 : 1) * s.length;

/** Everything of a request an answer that is not personalised depends on, besides the version and availability. */
const memoKey = (r: RecommendationRequest) => `${r.region}\n${r.market}\n${r.limit}\n${r.acceptLanguage ?? ""}\n${r.context.join(",")}`;

/** What an answer is made of, once chosen. */
interface Chosen {
  request: RecommendationRequest;
  version: string | null;
  personalised: boolean;
  picked: Picked;
  status: RecommendationSources["status"];
  /** Whether the precomputed lists had everything asked for (RecommendationSources.cacheHit). */
  cacheHit: boolean;
  /** The same for the context alone: what a request without a shopper would count. */
  contextHit: boolean;
}

/** A context's ranking without a shopper, kept in its version's view, and whether the lists held every context SKU's. */
interface KeptRanking {
  ranking: Ranking;
  contextHit: boolean;
}

/** Where a context's ranking is kept in its version's view. */
const rankKey = (context: readonly string[]) => `ranked:${context.join(",")}`;

/**
 * The version the region serves and the shopper's list, as this isolate holds them (undefined: to
 * be read), looked up once per request for the memo and for choose().
 */
interface HeldInMemory {
  version: string | null | undefined;
  /** Null: the shopper has no list, or there is no shopper. */
  ownList: Scored[] | null | undefined;
}

function heldInMemory(kv: Lists, request: Pick<RecommendationRequest, "region" | "shopper">): HeldInMemory {
  const version = versionInMemory(kv, request.region);
  if (request.shopper === undefined) return { version, ownList: null };
  const ownList = version ? (kv.peek?.(userKey(request.region, version, request.shopper)) as Scored[] | null | undefined) : undefined;
  return { version, ownList };
}

/** What choose() works from: the version, its view, the context's ranking and the shopper's list (null: none). */
interface Held {
  version: string | null;
  view: VersionView | null;
  kept: KeptRanking;
  forUser: Scored[] | null;
}

/**
 * What choose() needs when this isolate holds it all (the steady state): the version, its view, the
 * context's kept ranking and, for a shopper, their list or its known absence. The context's lists
 * are not looked up again (its ranking was made from them). Undefined when anything has to be read
 * or worked out (then `readLists`). No read, no promise.
 */
function heldForRequest(kv: Lists, region: string, context: readonly string[], held: HeldInMemory): Held | undefined {
  const { version, ownList: forUser } = held;
  if (!version || forUser === undefined) return undefined;
  const view = viewOf(kv, region, version);
  const kept = view.derived.get(rankKey(context))?.value as KeptRanking | undefined;
  if (kept === undefined) return undefined;
  return { version, view, kept, forUser };
}

/** What the answer is made of; at once (no promise) when this isolate held everything it needed. */
function choose(request: RecommendationRequest, sources: RecommendationSources, held = heldInMemory(sources.lists, request)): Chosen | Promise<Chosen> {
  const context = request.context.length > 1 ? [...new Set(request.context)] : request.context;
  const known = heldForRequest(sources.lists, request.region, context, held);
  return known === undefined ? readThenChoose(request, sources, context) : chooseFrom(request, sources, known);
}

/** choose() when something had to be read or worked out first. */
async function readThenChoose(request: RecommendationRequest, sources: RecommendationSources, context: readonly string[]): Promise<Chosen> {
  const read = readLists(sources.lists, request.region, { shopper: request.shopper, context });
  const lists = read instanceof Promise ? await read : read;
  // Without a shopper's list the ranking depends on the version and the context alone: worked out
  // once per isolate and version for each context (product pages repeat) and kept in the version's
  // view; a shopper's list is merged into it (blend.ts, withShopper), which is the same ranking as
  // from scratch for a fraction of the work.
  let kept = lists.view?.derived.get(rankKey(context))?.value as KeptRanking | undefined;
  if (!kept) {
    const ranking = rankWithoutShopper({ ...lists, context, popularIndex: lists.view?.popularIndex });
    kept = { ranking, contextHit: lists.version !== null && context.every((sku) => lists.boughtTogether.has(sku)) };
    lists.view?.keepDerived(rankKey(context), kept, ranking.ranked.length + 1);
  }
  return chooseFrom(request, sources, { version: lists.version, view: lists.view, kept, forUser: lists.forUser });
}

/** choose() once the lists are known: the ranking (with the shopper's list merged in), walked by pick(). */
function chooseFrom(request: RecommendationRequest, sources: RecommendationSources, known: Held): Chosen | Promise<Chosen> {
  const { version, view, kept, forUser } = known;
  const ranking = kept.ranking;
  // pick() never walks further than its card pages reach.
  const ranked = forUser ? withShopper(ranking, forUser, READ_BOUNDS.cardPages * cardPageSize(request.limit)) : ranking.ranked;
  const picked = pick(ranked, request.limit, {
    cardPages: READ_BOUNDS.cardPages,
    cards: (skus) => loadEntries(sources.lists, view!, skus)?.then(() => view!.cards) ?? view!.cards,
    cardHeld: view ? (sku) => cardHeld(view, sku) : undefined,
    maxChecks: sources.maxChecks,
    available: (skus) => sources.unitsInMemory?.(skus) ?? sources.available(skus).then((read) => read && skus.map((sku) => read.get(sku)?.available ?? 0)),
  });
  const contextHit = kept.contextHit;
  const cacheHit = contextHit && (!request.shopper || forUser !== null);
  const chosen = (p: Picked): Chosen => ({ request, version, personalised: Boolean(forUser?.length), picked: p, status: sources.status, cacheHit, contextHit });
  return picked instanceof Promise ? picked.then(chosen) : chosen(picked);
}

const statusOf = (c: Chosen, item: PickedItem) => (item.units === null ? ("unknown" as const) : c.status(item.units));

function answerObject(c: Chosen): Answer {
  const { region, market } = c.request;
  const accepted = acceptedLanguages(c.request.acceptLanguage);
  const language = market ? MARKETS[market]?.language : undefined;
  return {
    region,
    personalised: c.personalised,
    listsVersion: c.version,
    market,
    availability: c.picked.availability,
    items: c.picked.chosen.map((item) => {
      const { sku, reason, because, score } = item.candidate;
      const { name, locale } = localName(item.card, accepted, language);
      const { brand, category } = item.card;
      const price = (market && item.card.prices?.[market]) || null;
      const status = statusOf(c, item);
      return because === undefined
        ? { sku, reason, score, name, locale, brand, category, price, status }
        : { sku, reason, because, score, name, locale, brand, category, price, status };
    }),
  };
}

// Per card (a version's cards are kept as long as the version's view), the JSON of what an item
// shows of it, per market and Accept-Language header: `"name":…,"locale":…,"brand":…,"category":…,"price":…`.
const cardPieces = new WeakMap<Card, Map<string, string>>();
/** Storefronts send a handful of Accept-Language headers; a card keeps pieces for this many at most. */
const PIECES_PER_CARD = 32;

/** What a card's pieces are kept under: the market and the Accept-Language header. */
const pieceKey = (market: string | null, acceptLanguage: string | undefined) => `${market}|${acceptLanguage ?? ""}`;

function cardPiece(card: Card, key: string, market: string | null, acceptLanguage: string | undefined): string {
  let pieces = cardPieces.get(card);
  const known = pieces?.get(key);
  if (known !== undefined) return known;
  const { name, locale } = localName(card, acceptedLanguages(acceptLanguage), market ? MARKETS[market]?.language : undefined);
  const price = (market && card.prices?.[market]) || null;
  const piece = `"name":${JSON.stringify(name)},"locale":${JSON.stringify(locale)},"brand":${JSON.stringify(card.brand)},"category":${JSON.stringify(card.category)},"price":${JSON.stringify(price)}`;
  if (!pieces) cardPieces.set(card, (pieces = new Map()));
  if (pieces.size >= PIECES_PER_CARD) pieces.clear();
  pieces.set(key, piece);
  return piece;
}

/** `{"sku":…,"reason":…,["because":…,]"score":…,`: what an item shows of its candidate. */
function candidateHead({ sku, reason, because, score }: Candidate): string {
  // A score is a finite number: its text is JSON's.
  return `{"sku":${textJson(sku)},"reason":"${reason}",${because === undefined ? "" : `"because":${textJson(because)},`}"score":${scoreText(score)},`;
}

/**
 * `String(score)` for a score rounded to 6 decimals (blend.ts rounds every score so), written from
 * its integer millionths: each personalised answer writes the new scores of most of its items, and
 * V8's general double-to-text was most of a head's cost. The same text, because the decimal k/10^6
 * is the one shortest text of the double nearest it while a millionth is far wider than the gap
 * between doubles (test/recommendation-text.property.test.ts holds it to String()). Any other
 * number goes through String().
 */
export function scoreText(score: number): string {
  const millionths = Math.round(score * 1e6);
  if (!(score >= 0 && score < 1e9) || millionths / 1e6 !== score) return String(score);
  const whole = Math.floor(millionths / 1e6);
  const fraction = millionths - whole * 1e6;
  if (fraction === 0) return String(whole);
  // "1" and the six digits of the fraction, its trailing zeros then dropped.
  const digits = String(1e6 + fraction);
  let end = 7;
  while (digits.charCodeAt(end - 1) === 48) end--;
  return `${whole}.${digits.slice(1, end)}`;
}

/**
 * The JSON of a SKU, region, version or market, made once per isolate rather than once per item: a
 * personalised answer makes most of its items' heads afresh (their scores are new). Bounded: past
 * TEXT_JSON_KEPT entries it starts again.
 */
const textJsonKept = new Map<string, string>();
const TEXT_JSON_KEPT = 100_000;

function textJson(text: string): string {
  let json = textJsonKept.get(text);
  if (json === undefined) {
    if (textJsonKept.size >= TEXT_JSON_KEPT) textJsonKept.clear();
    textJsonKept.set(text, (json = JSON.stringify(text)));
  }
  return json;
}

function answerText(c: Chosen): string {
  const { region, market, acceptLanguage } = c.request;
  const key = pieceKey(market, acceptLanguage);
  let items = "";
  for (const item of c.picked.chosen) {
    const head = (item.candidate.head ??= candidateHead(item.candidate));
    items += `${items ? "," : ""}${head}${cardPiece(item.card, key, market, acceptLanguage)},"status":"${statusOf(c, item)}"}`;
  }
  return `{"region":${textJson(region)},"personalised":${c.personalised},"listsVersion":${c.version === null ? "null" : textJson(c.version)},"market":${market === null ? "null" : textJson(market)},"availability":"${c.picked.availability}","items":[${items}]}`;
}
