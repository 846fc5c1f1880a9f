// npm run reconcile [-- --url http://127.0.0.1:8787 --region eu --grace 60 --repair]
// Asks a running deployment to compare each SKU-region object with its Postgres projection and
// prints the drift. Exits 1 when anything drifted, 0 when all is ok or merely lagging.
// --repair asks each object that is ahead of Postgres to resend the missing events (the consumer
// skips what it already has), waits, and checks again. Pages through the region 200 at a time.
// The Worker's */10 cron (and `npm start`) runs the same repair by itself: docs/operations.md.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { devVars } from "./local-api.mjs";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: process.env.EDGE_URL ?? "http://127.0.0.1:8787" },
    region: { type: "string", multiple: true },
    grace: { type: "string", default: "60" },
    repair: { type: "boolean", default: false },
  },
});

const adminToken = () => devVars().adminToken;

function regions(): string[] {
  if (values.region?.length) return values.region;
  const toml = readFileSync("wrangler.toml", "utf8");
  return [...toml.matchAll(/^\[env\.([a-z0-9_-]+)\]\s*$/gm)].map((m) => m[1]!);
}

interface Check {
  sku: string;
  status: string;
  objectVersion: number;
  projectedVersion: number;
  differences: string[];
}

type Page = { checked: number; ok: number; lagging: Check[]; drift: Check[]; nextAfter: string | null; detail?: string };

async function check(region: string) {
  const total: Page = { checked: 0, ok: 0, lagging: [], drift: [], nextAfter: null };
  let after: string | null = null;
  do {
    const url = `${values.url}/v1/admin/${region}/reconcile?graceSeconds=${values.grace}&limit=200${after ? `&after=${encodeURIComponent(after)}` : ""}`;
    let res: Response;
    try {
      res = await fetch(url, { headers: { authorization: `Bearer ${adminToken()}` } });
    } catch (err) {
      console.error(`${region}: cannot reach ${values.url} (${(err as Error).message}). Is \`npm start\` running, or is --url right?`);
      process.exit(2);
    }
    const body = (await res.json()) as Page;
    if (!res.ok) {
      console.error(`${region}: ${res.status} ${body.detail ?? JSON.stringify(body)}`);
      process.exit(2);
    }
    total.checked += body.checked;
    total.ok += body.ok;
    total.lagging.push(...body.lagging);
    total.drift.push(...body.drift);
    after = body.nextAfter;
  } while (after);
  console.log(`${region}: ${total.checked} SKU-regions checked, ${total.ok} ok, ${total.lagging.length} lagging, ${total.drift.length} drifted`);
  for (const c of [...total.drift, ...total.lagging]) {
    console.log(`  ${c.status.padEnd(7)} ${c.sku.padEnd(28)} object v${c.objectVersion}, Postgres v${c.projectedVersion}: ${c.differences.join("; ")}`);
  }
  return total.drift;
}

async function resend(region: string, c: Check) {
  const res = await fetch(`${values.url}/v1/admin/${region}/stock/${encodeURIComponent(c.sku)}/resend`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken()}`, "content-type": "application/json" },
    body: JSON.stringify({ after: c.projectedVersion }),
  });
  console.log(`  resend ${c.sku} after v${c.projectedVersion}: ${res.status}`);
}

let drifted = 0;
for (const region of regions()) {
  let drift = await check(region);
  const repairable = drift.filter((c) => c.objectVersion > c.projectedVersion);
  if (values.repair && repairable.length) {
    console.log(`${region}: repairing ${repairable.length} SKU-region(s) that are behind`);
    for (const c of repairable) await resend(region, c);
    await new Promise((r) => setTimeout(r, 5_000)); // the queue delivers within a few seconds
    drift = await check(region);
  }
  drifted += drift.length;
}
if (drifted) {
  console.error(`\n${drifted} SKU-region(s) drifted. The objects are authoritative: run \`npm run db:rebuild\` if the log is complete, or check the dead letters (GET /v1/admin/<region>/dead-letters).`);
  process.exit(1);
}
console.log("no drift");
