// `npm run contract` (part of `npm test`): serves the Worker locally (wrangler's startWorker, no
// Postgres needed), then checks the document it serves the way API tools would use it:
//   1. `redocly lint` (recommended rules, redocly.yaml) of GET /openapi.json: any error fails;
//   2. openapi-typescript generates a typed client from it, and tsc compiles code that uses it;
//   3. headless Chromium opens /docs and finds every operation listed, with no third-party request.
// Exits 1 on the first failure. Writes the document and the client under dist/contract/.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";
import { launchChromium } from "../chromium.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const OUT = join(ROOT, "dist", "contract");
const bin = (name) => join(ROOT, "node_modules", ".bin", name);
const skipBrowser = process.argv.includes("--no-browser");

/** Runs a tool; rejects with its output when it fails. */
function run(step, command, args) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (code === 0) resolve({ output, seconds });
      else reject(new Error(`${step} failed (${seconds} s)\n${output}`));
    });
  });
}

mkdirSync(OUT, { recursive: true });
process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
process.env.WRANGLER_SEND_METRICS = "false";
const started = Date.now();
const worker = await unstable_startWorker({
  config: join(ROOT, "wrangler.toml"),
  dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, logLevel: "error", persist: false },
});
let failed = false;
try {
  const base = await worker.url;
  console.log(`✓ Worker serving on ${base.origin} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const res = await fetch(new URL("/openapi.json", base));
  if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
  const doc = await res.json();
  const documentPath = join(OUT, "openapi.json");
  writeFileSync(documentPath, `${JSON.stringify(doc, null, 2)}\n`);

  // 1, 2 and 3 run side by side; any failure fails the run.
  // 1. Lint: errors fail; a warning of a rule left on prints here, to be fixed or configured.
  const lint = run("redocly lint", bin("redocly"), ["lint", documentPath, "--config", join(ROOT, "redocly.yaml"), "--format", "summary"]).then((lint) => {
    const verdict = /Woohoo!.*|.*warnings?\./.exec(lint.output)?.[0] ?? lint.output.trim().split("\n").at(-1);
    console.log(`✓ redocly lint of /openapi.json, recommended rules + redocly.yaml (${lint.seconds} s): ${verdict}`);
  });
  // 2. A typed client from the document, compiled against code that calls the API with it.
  const client = run("openapi-typescript", bin("openapi-typescript"), [documentPath, "--output", join(OUT, "edge-inventory.d.ts")])
    .then((generated) => run("tsc of the generated client", bin("tsc"), ["--noEmit", "-p", join(ROOT, "scripts", "contract", "tsconfig.json")]).then((tsc) => [generated, tsc]))
    .then(([generated, tsc]) => {
      console.log(`✓ openapi-typescript generated dist/contract/edge-inventory.d.ts (${generated.seconds} s); scripts/contract/client-usage.ts compiles against it (${tsc.seconds} s)`);
    });

  // 3. The reference page in a real browser.
  const browser = skipBrowser ? Promise.resolve(console.log("- browser check skipped (--no-browser)")) : checkReferencePage(base, doc);
  const results = await Promise.allSettled([lint, client, browser]);
  const failure = results.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
} catch (err) {
  console.error(`✗ ${err?.stack ?? err}`);
  failed = true;
} finally {
  const disposing = Date.now();
  await worker.dispose();
  console.log(`  (stopped the Worker in ${((Date.now() - disposing) / 1000).toFixed(1)} s; ${((Date.now() - started) / 1000).toFixed(1)} s in all)`);
}
process.exit(failed ? 1 : 0);

async function checkReferencePage(base, doc) {
  const started = Date.now();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const elsewhere = [];
    const errors = [];
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (!["data:", "blob:"].includes(url.protocol) && url.origin !== base.origin) elsewhere.push(r.url());
    });
    page.on("console", (m) => m.type() === "error" && errors.push(`${m.text()} ${m.location()?.url ?? ""}`));
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(new URL("/docs", base).href, { waitUntil: "load" });
    // Summaries may show `code` with or without its backticks: compare both sides without them.
    const operations = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.summary?.replaceAll("`", ""))).filter(Boolean);
    // Scalar renders every operation's summary as its heading once the document is loaded.
    const missing = await page
      .waitForFunction(
        (summaries) => {
          const text = document.body.innerText.replaceAll("`", "");
          const absent = summaries.filter((s) => !text.includes(s));
          return absent.length === 0 ? [] : false;
        },
        operations,
        { timeout: 20_000, polling: 250 },
      )
      .then(() => [])
      .catch(async () => page.evaluate((summaries) => summaries.filter((s) => !document.body.innerText.replaceAll("`", "").includes(s)), operations));
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (missing.length) throw new Error(`/docs in Chromium does not list ${missing.length} of ${operations.length} operations: ${missing.join(" | ")}\nconsole errors: ${errors.join("\n")}`);
    if (elsewhere.length) throw new Error(`/docs made requests to other origins: ${elsewhere.join(", ")}`);
    console.log(`✓ /docs in headless Chromium lists all ${operations.length} operations, with no request outside ${base.origin} (${seconds} s)`);
  } finally {
    await browser.close();
  }
}
