#!/usr/bin/env node
// npm run recs:build [-- --region eu]
// Builds the recommendation lists of every local region (or one) on the running `npm start`
// server, so they land in the same KV it reads (.wrangler/state): the same build the cron trigger
// runs in production. Draws a progress bar from the streamed progress and prints a summary.
import { parseArgs } from "node:util";
import { BASE, devVars, ensureServer, localRegions } from "./local-api.mjs";
import { progressBar } from "./progress.mjs";

const { values } = parseArgs({ options: { region: { type: "string" } } });
const regions = values.region ? values.region.split(",") : localRegions();
await ensureServer();
const { adminToken } = devVars();
const totals = { baskets: 0, users: 0, items: 0, keys: 0, bytes: 0 };
const started = Date.now();
let failed = 0;

for (const region of regions) {
  const res = await fetch(`${BASE}/v1/admin/${region}/recommendations/builds`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, accept: "application/x-ndjson" },
  });
  if (!res.ok) {
    console.error(`✗ ${region}: ${res.status} ${await res.text()}`);
    failed++;
    continue;
  }
  const bars = new Map();
  let summary = null;
  let buffered = "";
  const decoder = new TextDecoder();
  const handle = (line) => {
    if (!line.trim()) return;
    const message = JSON.parse(line);
    if (message.progress) {
      const { phase, done, total } = message.progress;
      for (const [other, bar] of bars) if (other !== phase && !bar.closed) (bar.done(), (bar.closed = true));
      if (!bars.has(phase)) bars.set(phase, Object.assign(progressBar(`${region.padEnd(5)} ${phase.padEnd(9)}`), { closed: false }));
      bars.get(phase).update(done, total, phase === "writing" ? "KV keys" : "");
    } else if (message.summary) summary = message.summary;
    else if (message.error) console.error(`\n✗ ${region}: ${message.error.detail}`);
  };
  for await (const chunk of res.body) {
    buffered += decoder.decode(chunk, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop();
    lines.forEach(handle);
  }
  handle(buffered);
  for (const bar of bars.values()) if (!bar.closed) bar.done();
  if (!summary) {
    failed++;
    continue;
  }
  for (const k of Object.keys(totals)) totals[k] += summary[k];
  console.log(
    `✓ ${region}: version ${summary.version}: ${summary.baskets} baskets, ${summary.users} users, ${summary.items} items; ` +
      `lists: ${summary.lists.boughtTogether} bought-together, ${summary.lists.forYou} for-you, ${summary.lists.popular} popular categories; ` +
      `${summary.keys} keys, ${(summary.bytes / 1024).toFixed(1)} KiB; ${summary.deletedVersions.length} old versions deleted; ${summary.ms} ms`,
  );
}

console.log(
  [
    "",
    `recommendation build ${failed ? `finished with ${failed} failed region(s)` : "complete"}`,
    `  regions   : ${regions.length - failed}/${regions.length}`,
    `  baskets   : ${totals.baskets}`,
    `  users     : ${totals.users} (consenting shoppers with a list)`,
    `  items     : ${totals.items}`,
    `  KV keys   : ${totals.keys} (${(totals.bytes / 1024).toFixed(1)} KiB)`,
    `  took      : ${((Date.now() - started) / 1000).toFixed(1)} s`,
  ].join("\n"),
);
process.exitCode = failed ? 1 : 0;
