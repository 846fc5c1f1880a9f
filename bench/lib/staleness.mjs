// The staleness probe of the reads scenario: while the load runs, one writer changes the stock of a
// few of the read SKUs (through the admin API, ~10 writes/s, each to a value never used before) and
// one reader asks for those SKUs' availability through the storefront route (~20 reads/s), as a
// shopper would. Every answer is then compared with the writes: an answer showing value v_k, when
// write k+1 had already started before the answer arrived, is stale by (answer received - write k+1
// started). That over-counts (the write commits after it starts, the answer was formed before it
// arrived), never under-counts. The largest such age is what the bound promises to hold.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function stalenessProbe({ url, region, apiKey, api, skus, writeEveryMs = 100, readEveryMs = 50 }) {
  const writes = new Map(skus.map((sku) => [sku, []])); // per SKU: { value, startedAt } in order
  const answers = [];
  let next = 1_000_000; // far above any stock the scenarios set, so each value names one write
  let stopped = false;
  let failedWrites = 0;
  let failedReads = 0;

  const writer = (async () => {
    while (!stopped) {
      const sku = skus[Math.floor(Math.random() * skus.length)];
      const value = next++;
      writes.get(sku).push({ value, startedAt: Date.now() });
      try {
        await api.setStock(sku, value);
      } catch {
        failedWrites++;
      }
      await sleep(writeEveryMs);
    }
  })();

  const reader = (async () => {
    while (!stopped) {
      try {
        const res = await fetch(`${url}/v1/${region}/availability?skus=${skus.join(",")}`, { headers: { "x-api-key": apiKey } });
        const receivedAt = Date.now();
        if (res.status !== 200) failedReads++;
        else for (const item of (await res.json()).items) answers.push({ sku: item.sku, available: item.available, receivedAt });
      } catch {
        failedReads++;
      }
      await sleep(readEveryMs);
    }
  })();

  return {
    async stop() {
      stopped = true;
      await Promise.all([writer, reader]);
      const ages = [];
      for (const a of answers) {
        const list = writes.get(a.sku);
        const k = list.findIndex((w) => w.value === a.available); // -1: the value set before the probe
        const following = list[k + 1];
        ages.push(following && following.startedAt < a.receivedAt ? a.receivedAt - following.startedAt : 0);
      }
      ages.sort((x, y) => x - y);
      return {
        answers: ages.length,
        writes: [...writes.values()].reduce((n, l) => n + l.length, 0),
        maxMs: ages.length ? ages[ages.length - 1] : null,
        p99Ms: ages.length ? ages[Math.min(ages.length - 1, Math.floor(ages.length * 0.99))] : null,
        staleShare: ages.length ? ages.filter((x) => x > 0).length / ages.length : null,
        failedWrites,
        failedReads,
      };
    },
  };
}
