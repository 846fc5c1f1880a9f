// npm run archive -- --sku LIP-NOIR-LTD [--region eu] [--url http://127.0.0.1:8787] [--out log.ndjson]
// Reads a SKU-region's whole event log from a running deployment: the chunks compacted into the
// R2 archive (each checked against its checksum by the worker) and the events the object still
// holds, in sequence order, as NDJSON (stdout or --out). Checks the sequence is 1..version with no
// gap, shows progress on stderr and ends with a summary.
import { createWriteStream } from "node:fs";
import { parseArgs } from "node:util";
import { devVars } from "./local-api.mjs";
import { progressBar } from "./progress.mjs";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: process.env.EDGE_URL ?? "http://127.0.0.1:8787" },
    region: { type: "string", default: "eu" },
    sku: { type: "string" },
    out: { type: "string" },
  },
});
if (!values.sku) {
  console.error("usage: npm run archive -- --sku <SKU> [--region eu] [--url http://127.0.0.1:8787] [--out log.ndjson]");
  process.exit(2);
}

const adminToken = () => devVars().adminToken;

const base = `${values.url}/v1/admin/${values.region}/stock/${encodeURIComponent(values.sku)}`;
async function get<T>(path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${adminToken()}` } });
  } catch (err) {
    console.error(`cannot reach ${values.url} (${(err as Error).message}). Is \`npm start\` running, or is --url right?`);
    process.exit(2);
  }
  const body = (await res.json()) as T & { detail?: string };
  if (!res.ok) {
    console.error(`GET ${path || "/"}: ${res.status} ${body.detail ?? JSON.stringify(body)}`);
    process.exit(1);
  }
  return body;
}

interface Event { seq: number }
const out = values.out ? createWriteStream(values.out) : process.stdout;
let expected = 1;
const write = (events: Event[]) => {
  for (const e of events) {
    if (e.seq !== expected) {
      console.error(`\nthe log has a gap: event ${e.seq} where ${expected} was expected; stopping`);
      process.exit(1);
    }
    expected++;
    out.write(`${JSON.stringify(e)}\n`);
  }
};

const listing = await get<{ archivedThrough: number; chunks: { from: number; to: number; count: number }[] }>("/archive");
const bar = progressBar("archive");
for (const [i, chunk] of listing.chunks.entries()) {
  const body = await get<{ events: Event[] }>(`/archive/${chunk.from}`);
  write(body.events);
  bar.update(i + 1, listing.chunks.length, `events 1..${chunk.to}`);
}
bar.done();
let held = 0;
for (let after = listing.archivedThrough; ; ) {
  const page = await get<{ events: Event[]; nextAfter: number | null }>(`/events?after=${after}&limit=500`);
  write(page.events);
  held += page.events.length;
  if (page.nextAfter === null) break;
  after = page.nextAfter;
}
if (values.out) await new Promise((resolve) => (out as ReturnType<typeof createWriteStream>).end(resolve));
console.error(
  `✓ ${values.region}:${values.sku}: events 1..${expected - 1}, gap-free: ${listing.archivedThrough} from ${listing.chunks.length} archive chunk(s) (checksums verified), ${held} held by the object` +
    (values.out ? `; written to ${values.out}` : ""),
);
