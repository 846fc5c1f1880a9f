// The bench's storefront scenario decides issue 15's throughput target: reads and recommendations
// take turns on every connection (bench/lib/workloads.mjs, "turns") and turnsSummary
// (bench/lib/scenarios.mjs) turns the answers per block into rates, a ratio and an interval. Both
// are checked here against hand-counted cases, so that the number the docs quote means what they say.
import { afterEach, describe, expect, it, vi } from "vitest";
import { scenarioCatalog, stalledTurns, turnsSummary } from "../../bench/lib/scenarios.mjs";
import { buildWorkload } from "../../bench/lib/workloads.mjs";

afterEach(() => vi.restoreAllMocks());

describe("bench: taking turns", () => {
  it("alternates a b b a in slices, counts each answer for its own part and block, and counts a late answer in the last whole block", () => {
    let now = 1_000;
    vi.spyOn(performance, "now").mockImplementation(() => now);
    const counters: Record<string, unknown> = { sent: 0, badBodies: 0 };
    const part = (tag: string) => ({ kind: "static", method: "GET", path: `/${tag}`, tag, expected: [200] });
    const w = buildWorkload({ kind: "turns", sliceMs: 250, durationSec: 2, parts: [part("a"), part("b")] }, counters, () => undefined);
    expect(w.expected).toEqual({ a: [200], b: [200] });
    const request = w.requests[0]!;
    const sent: string[] = [];
    const ask = (at: number, answerAt = at) => {
      now = at;
      const ctx: Record<string, unknown> = {};
      const req = request.setupRequest({ ...request }, ctx);
      sent.push(req.path ?? "");
      now = answerAt;
      request.onResponse(200, "", ctx);
    };
    for (let slice = 0; slice < 8; slice++) ask(1_000 + slice * 250 + 10);
    expect(sent).toEqual(["/a", "/b", "/b", "/a", "/a", "/b", "/b", "/a"]);
    // Sent in the last slice, answered while the run drains: still the last block's.
    ask(1_000 + 7 * 250 + 200, 1_000 + 8 * 250 + 30);
    const turns = counters.turns as { blocks: number[][]; kinds: string[]; slices: number[] };
    expect(turns.kinds).toEqual(["a", "b"]);
    expect(turns.blocks).toEqual([
      [2, 2],
      [3, 2],
    ]);
    // Per turn, in order; the late answer in the last one.
    expect(turns.slices).toEqual([1, 1, 1, 1, 1, 1, 1, 2]);
    expect(turnsSummary({ ...turns, sliceMs: 250 })!.turns.map((t) => `${t.kind}${t.answers}`)).toEqual(["a1", "b1", "b1", "a1", "a1", "b1", "b1", "a2"]);
  });

  it("gives each part's rate over its own turns, their ratio and an interval over the blocks", () => {
    const even = turnsSummary({ sliceMs: 250, kinds: ["read", "recommend"], blocks: [[100, 50], [100, 50], [100, 50]] });
    expect(even).toMatchObject({ blocks: 3, blockSec: 1, perSecond: [200, 100], ratio: 0.5, interval: [0.5, 0.5], blockRange: [0.5, 0.5] });
    // One slow block for the second part: the ratio of sums, and an interval that contains it.
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const uneven = turnsSummary({ sliceMs: 250, kinds: ["read", "recommend"], blocks: [[100, 120], [100, 120], [100, 30], [100, 130]] }, random)!;
    expect(uneven.ratio).toBeCloseTo(400 / 400, 10);
    expect(uneven.blockRange).toEqual([0.3, 1.3]);
    expect(uneven.interval[0]).toBeLessThan(uneven.ratio);
    expect(uneven.interval[1]).toBeGreaterThanOrEqual(uneven.ratio);
    expect(turnsSummary(null)).toBeNull();
    expect(even!.cpuMsPerRequest).toBeNull();
    const costed = turnsSummary({ sliceMs: 250, kinds: ["read", "recommend"], blocks: [[100, 50], [100, 150]], cpuMs: [[20, 30], [30, 10]] })!;
    expect(costed.cpuMsPerRequest).toEqual([0.25, 0.2]);
  });

  it("names the turns that stalled: under a third of their own kind's median answers", () => {
    const turn = (kind: string, answers: number, serverCpuMs: number | null = 250) => ({ kind, answers, serverCpuMs });
    const turns = [turn("read", 1_400), turn("recommend", 1_200), turn("recommend", 350, 160), turn("read", 1_300), turn("read", 480), turn("recommend", 1_100), turn("recommend", 1_150), turn("read", 1_350)];
    // 350 < 1,150 / 3; 480 > 1,350 / 3 (each kind against its own median).
    expect(stalledTurns(turns)).toEqual([{ turn: 2, kind: "recommend", answers: 350, serverCpuMs: 160 }]);
    expect(stalledTurns([turn("read", 10), turn("recommend", 10)])).toEqual([]);
  });

  it("takes turns between two recommendation workloads, each answer counted under its own kind (the personalisation scenario)", () => {
    let now = 1_000;
    vi.spyOn(performance, "now").mockImplementation(() => now);
    const counters: Record<string, unknown> = { sent: 0, badBodies: 0 };
    const recs = { kind: "recs", region: "eu", contexts: [["A", "B"]], shoppers: 5, outOfStock: [], apiKey: "k" };
    const w = buildWorkload(
      { kind: "turns", sliceMs: 250, durationSec: 1, parts: [{ ...recs, consentShare: 0, tag: "anonymous" }, { ...recs, consentShare: 1, tag: "personalised" }] },
      counters,
      () => undefined,
    );
    expect(w.expected).toEqual({ anonymous: [200], personalised: [200] });
    const request = w.requests[0]!;
    const headers: Record<string, string>[] = [];
    for (let slice = 0; slice < 4; slice++) {
      now = 1_000 + slice * 250 + 10;
      const ctx: Record<string, unknown> = {};
      headers.push(request.setupRequest({ ...request }, ctx).headers ?? {});
      request.onResponse(200, '{"items":[{"sku":"C"}]}', ctx);
    }
    // a b b a: only the second part's requests carry a shopper.
    expect(headers.map((h) => "shopper-id" in h)).toEqual([false, true, true, false]);
    expect((counters.turns as { kinds: string[] }).kinds).toEqual(["anonymous", "personalised"]);
  });

  it("counts the server's CPU time to the turn it was spent in", () => {
    let now = 1_000;
    vi.spyOn(performance, "now").mockImplementation(() => now);
    const counters: Record<string, unknown> = { sent: 0, badBodies: 0 };
    const part = (tag: string) => ({ kind: "static", method: "GET", path: `/${tag}`, tag, expected: [200] });
    // The "server" is this very process: it spends about 200 ms of CPU in b's first turn only.
    const w = buildWorkload({ kind: "turns", sliceMs: 250, durationSec: 1, parts: [part("a"), part("b")], serverPids: process.pid }, counters, () => undefined);
    const request = w.requests[0]!;
    const ask = (at: number, burnMs = 0) => {
      now = at;
      const ctx: Record<string, unknown> = {};
      request.setupRequest({ ...request }, ctx);
      const until = Date.now() + burnMs;
      while (Date.now() < until);
      request.onResponse(200, "", ctx);
    };
    ask(1_010);
    ask(1_260, 200);
    ask(1_510);
    ask(1_760);
    ask(2_010); // the first answer after the block: the last turn's CPU is counted
    const [a, b] = (counters.turns as { cpuMs: number[][] }).cpuMs[0]!;
    expect(b).toBeGreaterThanOrEqual(150);
    expect(a).toBeLessThan(100);
    // The same, turn by turn: b's first turn (the second) is where the time went.
    const perTurn = (counters.turns as { sliceCpuMs: number[] }).sliceCpuMs;
    expect(perTurn[1]).toBeGreaterThanOrEqual(150);
    expect(perTurn[0]! + perTurn[2]! + perTurn[3]!).toBeLessThan(100);
  });

  it("warms each kind of a turns scenario up for as long as its own scenario would", () => {
    const catalog = scenarioCatalog({ stock: 500, "confirm-ratio": 0.5, "cart-lines": 3, "cart-stock": 1_000_000, "cart-skus": 1000, "read-skus": 20, "recs-consent": 0.5, "recs-shoppers": 2000 });
    const recsWarmup = catalog.recs!.minWarmupSec!;
    expect(recsWarmup).toBeGreaterThan(0);
    for (const id of ["storefront", "personalisation"]) {
      const scenario = catalog[id]!;
      // Each of the two parts runs half the time.
      expect(scenario.minWarmupSec! / 2, id).toBeGreaterThanOrEqual(recsWarmup);
    }
  });
});
