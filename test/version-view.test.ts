// The per-version view of recommendation lists (recommendations/store.ts): what a request looks up
// by SKU once read, the rankings kept per context within a memory bound, and a new version starting
// a new view.
import { describe, expect, it } from "vitest";
import { ListCache } from "../recommendations/list-cache";
import { itemKey, loadEntries, pointerKey, popularKey, readLists, VersionView, viewOf } from "../recommendations/store";

function source(entries: Record<string, unknown>) {
  const values = new Map(Object.entries(entries).map(([k, v]) => [k, JSON.stringify(v)]));
  const keysRead: string[] = [];
  const cache = new ListCache({
    async get(keys: string[]) {
      keysRead.push(...keys);
      return new Map(keys.map((k) => [k, values.get(k) ?? null]));
    },
  });
  return { cache, keysRead, values };
}

const card = (sku: string) => ({ name: `Name ${sku}`, brand: "B", category: "c" });

describe("a version's view of the lists", () => {
  it("keeps rankings within MAX_DERIVED_WEIGHT candidates, the oldest going first", () => {
    const view = new VersionView("eu", "v1");
    const weight = Math.floor(VersionView.MAX_DERIVED_WEIGHT / 4) + 1;
    for (let i = 0; i < 10; i++) view.keepDerived(`ranked:${i}`, { i }, weight);
    // Three fit: 4 x (a quarter + 1) is past the bound.
    expect([...view.derived.keys()]).toEqual(["ranked:7", "ranked:8", "ranked:9"]);
    // Keeping a key again replaces it rather than counting it twice.
    view.keepDerived("ranked:9", { i: 9 }, weight);
    expect([...view.derived.keys()]).toEqual(["ranked:7", "ranked:8", "ranked:9"]);
    view.keepDerived("big", {}, VersionView.MAX_DERIVED_WEIGHT);
    expect([...view.derived.keys()]).toEqual(["big"]);
  });

  it("reads each entry of a version once, and starts again when the pointer names a new version", async () => {
    const { cache, keysRead, values } = source({
      [pointerKey("eu")]: { version: "v1", builtAt: "2026-12-01T00:00:00Z" },
      [popularKey("eu", "v1")]: [{ sku: "A", score: 3 }],
      [itemKey("eu", "v1", "A")]: { card: card("A"), together: [{ sku: "B", score: 1 }] },
      [itemKey("eu", "v1", "B")]: { card: card("B"), together: [] },
    });
    const first = await readLists(cache, "eu", { context: ["A"] });
    expect(first.boughtTogether.get("A")).toEqual([{ sku: "B", score: 1 }]);
    await loadEntries(cache, first.view!, ["A", "B", "GONE"]);
    expect(["A", "B", "GONE"].map((sku) => first.view!.cards.get(sku)?.name ?? null)).toEqual([card("A").name, card("B").name, null]);
    const before = keysRead.length;
    // Again: from the view, not one key read (an absent SKU included), and at once: no promise to
    // await when nothing had to be read (a busy isolate pays for every await).
    const again = readLists(cache, "eu", { context: ["A"] });
    expect(again).not.toBeInstanceOf(Promise);
    expect((again as Awaited<typeof again>).boughtTogether.get("A")).toEqual([{ sku: "B", score: 1 }]);
    expect(loadEntries(cache, first.view!, ["B", "GONE"])).toBeUndefined();
    expect(keysRead.length).toBe(before);

    values.set(pointerKey("eu"), JSON.stringify({ version: "v2", builtAt: "2026-12-02T00:00:00Z" }));
    values.set(itemKey("eu", "v2", "A"), JSON.stringify({ card: card("A"), together: [{ sku: "C", score: 1 }] }));
    cache.forgetPointer("eu");
    const second = await readLists(cache, "eu", { context: ["A"] });
    expect(second.version).toBe("v2");
    expect(second.boughtTogether.get("A")).toEqual([{ sku: "C", score: 1 }]);
    expect(viewOf(cache, "eu", "v2")).toBe(second.view);
    expect(second.view).not.toBe(first.view);
  });
});
