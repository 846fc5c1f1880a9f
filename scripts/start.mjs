#!/usr/bin/env node
// `npm start`: the whole API on http://127.0.0.1:8787 with a demo catalog, ready to try by hand.
//   1. creates .dev.vars from .dev.vars.example when it is missing
//   2. runs `wrangler dev` (every region in one process) and waits until GET /healthz answers
//   3. seeds scripts/demo-catalog.json through the admin API; SKU-regions that already hold stock
//      are skipped, and local state persists in .wrangler/state, so a restart seeds nothing
//   4. prints the /docs and /ops (operator console) URLs and curl commands to try, then shows
//      wrangler's log until Ctrl-C
//   5. runs the system-of-record repair (the Worker's */10 cron) at start-up and every 10 minutes:
//      cron triggers do not fire by themselves under `wrangler dev`, so this fires them
// Plain ESM JavaScript with no dependencies: it runs on Node 20+ before anything is compiled.
// Environment: PORT (default 8787), START_TIMEOUT_SECONDS (default 60).

import { spawn } from "node:child_process";
import { startLocalPostgres } from "./local-postgres.mjs";
import { startBridge } from "./pg-bridge.mjs";
import { startFakeWarehouse } from "../warehouses/fake-warehouse.mjs";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";
const PORT = readPort();
const BASE = `http://${HOST}:${PORT}`;
const READY_TIMEOUT_S = Number(process.env.START_TIMEOUT_SECONDS) > 0 ? Number(process.env.START_TIMEOUT_SECONDS) : 60;
const SEED_CONCURRENCY = 8;
const CATALOG_FILE = path.join(ROOT, "scripts", "demo-catalog.json");
const WINDOWS = process.platform === "win32";
const BIN = path.join(ROOT, "node_modules", ".bin");
const WRANGLER = path.join(BIN, WINDOWS ? "wrangler.cmd" : "wrangler");

// SKUs the printed examples use: in stock, low stock and out of stock in eu.
const EXAMPLE_SKUS = ["LIP-ROUGE-01", "SERUM-RETI-30", "FDN-SKIN-420"];
const RESERVE_SKU = "LIP-ROUGE-01";
// The repair cron of wrangler.toml (REPAIR_CRON in workers/scheduled.ts), fired through
// wrangler dev's --test-scheduled endpoint.
const REPAIR_CRON = "*/10 * * * *";
const REPAIR_EVERY_MS = 10 * 60_000;

// ------------------------------------------------------------------ terminal output

const TTY = Boolean(process.stdout.isTTY);
const COLOR = TTY && !process.env.NO_COLOR;
const paint = (code) => (s) => (COLOR ? `\x1b[${code}m${s}\x1b[0m` : String(s));
const bold = paint("1");
const dim = paint("2");
const red = paint("31");
const green = paint("32");
const yellow = paint("33");
const cyan = paint("36");
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");

let progressText = null; // the single updating status line, when there is one

function progress(text) {
  if (!TTY) return;
  progressText = text;
  process.stdout.write(`\r\x1b[K${text}`);
}

function endProgress() {
  if (progressText === null) return;
  process.stdout.write("\r\x1b[K");
  progressText = null;
}

/** Prints a line without garbling the status line: clear it, print, draw it again. */
function say(text = "") {
  if (progressText !== null) process.stdout.write("\r\x1b[K");
  process.stdout.write(`${text}\n`);
  if (progressText !== null) process.stdout.write(progressText);
}

function sayError(text) {
  if (progressText !== null) process.stdout.write("\r\x1b[K");
  process.stderr.write(`${text}\n`);
  if (progressText !== null) process.stdout.write(progressText);
}

class StartError extends Error {
  constructor(message, hints = [], details = []) {
    super(message);
    this.hints = hints;
    this.details = details;
  }
}

// ------------------------------------------------------------------ configuration

function readPort() {
  const raw = process.env.PORT ?? "8787";
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write(`✗ PORT=${raw} is not a TCP port (1-65535). Unset it to use 8787.\n`);
    process.exit(1);
  }
  return port;
}

function ensureDevVars() {
  const file = path.join(ROOT, ".dev.vars");
  if (existsSync(file)) {
    addMissingDevVars(file);
    return;
  }
  const example = path.join(ROOT, ".dev.vars.example");
  if (!existsSync(example)) {
    throw new StartError(".dev.vars and .dev.vars.example are both missing", [
      "Restore .dev.vars.example from git: git checkout -- .dev.vars.example",
    ]);
  }
  copyFileSync(example, file);
  say(`${green("✓")} Created .dev.vars from .dev.vars.example (local secrets; git-ignored, edit freely)`);
}

/** The KEY=VALUE lines of .dev.vars, as wrangler reads them (dotenv syntax, simplified). */
/** A .dev.vars from an older checkout lacks settings added since: copy those from the example. */
function addMissingDevVars(file) {
  const example = path.join(ROOT, ".dev.vars.example");
  if (!existsSync(example)) return;
  const keyOf = (line) => /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
  const have = new Set(readFileSync(file, "utf8").split(/\r?\n/).map(keyOf).filter(Boolean));
  const missing = readFileSync(example, "utf8").split(/\r?\n/).filter((line) => keyOf(line) && !have.has(keyOf(line)));
  if (missing.length === 0) return;
  appendFileSync(file, `\n# Added by npm start from .dev.vars.example\n${missing.join("\n")}\n`);
  say(`${green("✓")} Added ${missing.map(keyOf).join(", ")} to .dev.vars from .dev.vars.example`);
}

function readDevVars() {
  const vars = {};
  for (const line of readFileSync(path.join(ROOT, ".dev.vars"), "utf8").split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2];
    const quoted = /^(["'`])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2];
    else value = value.replace(/\s+#.*$/, "");
    vars[m[1]] = value;
  }
  const storefrontKey = (vars.STOREFRONT_KEYS ?? "").split(",").map((k) => k.trim()).find(Boolean);
  if (!storefrontKey) {
    throw new StartError("STOREFRONT_KEYS in .dev.vars is empty, so the storefront API would refuse every request", [
      "Set it, e.g. STOREFRONT_KEYS=dev-storefront-key (see .dev.vars.example)",
    ]);
  }
  let adminToken = vars.ADMIN_TOKEN;
  if (!adminToken) {
    adminToken = "dev-admin-token";
    say(yellow(`! ADMIN_TOKEN is not set in .dev.vars; seeding will try ${adminToken}`));
  }
  return { storefrontKey, adminToken, warehouseSecrets: vars.WAREHOUSE_SECRETS };
}

const SKU_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/; // as in schema/contracts.ts

/** Reads and checks the catalog up front, so a typo fails before wrangler starts. */
function readCatalog() {
  const rel = path.relative(ROOT, CATALOG_FILE);
  let catalog;
  try {
    catalog = JSON.parse(readFileSync(CATALOG_FILE, "utf8"));
  } catch (err) {
    throw new StartError(`Cannot read ${rel}: ${err.message}`, ["Fix the JSON (or restore it: git checkout -- scripts/demo-catalog.json)"]);
  }
  const problems = [];
  const warehouses = catalog?.warehouses ?? {};
  const seen = new Set();
  for (const [i, item] of (Array.isArray(catalog?.skus) ? catalog.skus : []).entries()) {
    const where = `skus[${i}] (${item?.sku ?? "no sku"})`;
    if (typeof item?.sku !== "string" || !SKU_PATTERN.test(item.sku)) problems.push(`${where}: sku must be 1-64 letters, digits, '.', '_' or '-'`);
    if (seen.has(item?.sku)) problems.push(`${where}: duplicate sku`);
    seen.add(item?.sku);
    if (!Number.isInteger(item?.safetyStock) || item.safetyStock < 0) problems.push(`${where}: safetyStock must be a whole number >= 0`);
    const regions = Object.entries(item?.stock ?? {});
    if (regions.length === 0) problems.push(`${where}: stock must name at least one region`);
    for (const [region, counts] of regions) {
      const expected = warehouses[region];
      if (!Array.isArray(expected)) {
        problems.push(`${where}: region '${region}' is not in "warehouses"`);
        continue;
      }
      const given = Object.keys(counts ?? {});
      if (given.length !== expected.length || !expected.every((w) => given.includes(w))) {
        problems.push(`${where}: stock.${region} must give exactly ${expected.join(" and ")}`);
      }
      for (const [w, n] of Object.entries(counts ?? {})) {
        if (!Number.isInteger(n) || n < 0) problems.push(`${where}: stock.${region}.${w} must be a whole number >= 0`);
      }
    }
  }
  if (seen.size === 0) problems.push(`"skus" must be a non-empty list`);
  if (problems.length) {
    throw new StartError(`${rel} is not valid`, [`Fix ${rel}`], problems.slice(0, 10));
  }
  return catalog;
}

// ------------------------------------------------------------------ wrangler

/** Fails early, and clearly, when something already listens where wrangler is meant to. */
function ensurePortFree() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (err) => {
      if (err.code !== "EADDRINUSE" && err.code !== "EACCES") return reject(err);
      reject(
        new StartError(`Port ${PORT} on ${HOST} is already in use${err.code === "EACCES" ? " (or not allowed)" : ""}`, [
          `An earlier \`npm start\` or \`wrangler dev\` may still be running: stop it (Ctrl-C in its terminal).`,
          `To see what holds the port: lsof -nP -iTCP:${PORT} -sTCP:LISTEN   (or: ss -ltnp | grep :${PORT})`,
          `Or use another port: PORT=${PORT === 8787 ? 8788 : PORT + 1} npm start`,
        ]),
      );
    });
    probe.once("listening", () => probe.close(() => resolve()));
    probe.listen(PORT, HOST);
  });
}

let child = null;
let childExit = null; // { code, signal } once wrangler has exited
let childDone = null; // resolves when wrangler has exited
let showAllOutput = false; // until the demo is ready only errors and warnings are shown
let buildFailed = false; // wrangler then waits for a file change instead of exiting
const recentOutput = []; // wrangler's last lines ({ line, shown }), for when start-up fails

function startWrangler(vars = {}) {
  if (!existsSync(WRANGLER)) {
    throw new StartError("wrangler is not installed (node_modules/.bin/wrangler is missing)", ["Run npm install first"]);
  }
  // --test-scheduled: GET /__scheduled?cron=... runs the scheduled handler (the repair, below).
  const args = ["dev", "--ip", HOST, "--port", String(PORT), "--show-interactive-dev-session=false", "--test-scheduled"];
  for (const [key, value] of Object.entries(vars)) args.push("--var", `${key}:${value}`);
  // The database URL may hold a password: show the command without it.
  const secret = (a) => a.startsWith("DATABASE_URL:") || a.startsWith("WAREHOUSE");
  say(dim(`$ wrangler ${args.map((a) => (secret(a) ? `${a.split(":")[0]}:…` : a)).join(" ")}`));
  child = spawn(WRANGLER, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? "false",
      ...(COLOR && { FORCE_COLOR: "1" }),
      // wrangler needs Node >= 22.12: the node devDependency in node_modules/.bin provides it even
      // when this script was started with an older system node.
      PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ""}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so a stop can reach workerd too if wrangler does not clean up.
    detached: !WINDOWS,
    shell: WINDOWS,
  });
  childDone = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      childExit ??= { code, signal };
      resolve();
    });
    // Spawning itself failed (no exit event follows).
    child.once("error", (err) => {
      childExit ??= { code: null, signal: null, error: err };
      resolve();
    });
  });
  for (const [stream, isStderr] of [[child.stdout, false], [child.stderr, true]]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => onWranglerLine(line, isStderr));
  }
}

const NOTEWORTHY = /✘|▲|\[ERROR\]|\[WARNING\]|\berror\b|\bwarn(ing)?\b|uncaught|exception|EADDRINUSE/i;

function onWranglerLine(line, isStderr) {
  const plain = stripAnsi(line);
  if (!plain.trim()) return;
  const shown = showAllOutput || isStderr || NOTEWORTHY.test(plain);
  recentOutput.push({ line: COLOR ? line : plain, shown });
  if (recentOutput.length > 60) recentOutput.shift();
  if (!showAllOutput && /Build failed/i.test(plain)) buildFailed = true;
  if (!shown) return;
  const text = `${dim("wrangler │")} ${COLOR ? line : plain}`;
  if (isStderr) sayError(text);
  else say(text);
}

/** wrangler's recent lines that were kept quiet, for a failure report. */
function unshownOutput() {
  return recentOutput.filter((o) => !o.shown).slice(-25).map((o) => o.line);
}

function describeExit({ code, signal, error }) {
  if (error) return `could not run ${path.relative(ROOT, WRANGLER)}: ${error.message}`;
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

async function waitUntilHealthy() {
  const started = Date.now();
  const deadline = started + READY_TIMEOUT_S * 1000;
  while (Date.now() < deadline) {
    if (childExit) {
      throw new StartError(
        `wrangler stopped (${describeExit(childExit)}) before the API answered`,
        [
          "wrangler's output is above. To see everything, run it directly: npx wrangler dev",
          "If it mentions the Node.js version or a missing module, run npm install",
        ],
        recentOutput.some((o) => o.shown) ? [] : unshownOutput(),
      );
    }
    if (buildFailed) {
      await sleep(500); // the rest of the error report
      throw new StartError("wrangler could not build the worker: the errors are above", [
        "Fix them and run npm start again (or run npx wrangler dev, which rebuilds on every save)",
      ]);
    }
    try {
      const res = await fetch(`${BASE}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && (await res.json())?.ok === true) return;
    } catch {
      // not up yet
    }
    progress(dim(`waiting for ${BASE}/healthz ... ${Math.round((Date.now() - started) / 1000)} s`));
    await sleep(250);
  }
  throw new StartError(
    `The API did not answer GET ${BASE}/healthz within ${READY_TIMEOUT_S} s`,
    [
      "Above: wrangler's latest lines. To see everything, run it on its own: npx wrangler dev --ip 127.0.0.1",
      "Check that npm install completed (node_modules/.bin/wrangler and node_modules/.bin/node)",
      `On a slow machine, allow longer: START_TIMEOUT_SECONDS=180 npm start`,
    ],
    unshownOutput(),
  );
}

/** Stops wrangler: SIGINT as Ctrl-C would, then harder if it lingers; resolves once it is gone. */
async function stopWrangler() {
  if (!child || childExit) return reapGroup();
  const signalGroup = (signal) => {
    try {
      if (WINDOWS) child.kill(signal);
      else process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  try {
    child.kill("SIGINT");
  } catch {
    // already gone
  }
  const term = setTimeout(() => signalGroup("SIGTERM"), 5000);
  const kill = setTimeout(() => signalGroup("SIGKILL"), 9000);
  await childDone;
  clearTimeout(term);
  clearTimeout(kill);
  await reapGroup();
}

/** wrangler has exited; make sure nothing it started (workerd, esbuild) outlives it. */
async function reapGroup() {
  if (!child || WINDOWS) return;
  const alive = () => {
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 20 && alive(); i++) await sleep(100);
  if (alive()) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

// ------------------------------------------------------------------ admin API and seeding

class ApiError extends Error {
  constructor(method, urlPath, status, body, cause) {
    super(status ? `${method} ${urlPath} answered ${status}` : `${method} ${urlPath} failed: ${cause?.message ?? cause}`);
    this.status = status;
    this.body = body;
    this.problem = parseJson(body);
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One admin request; busy (503) answers and dropped connections are retried, since every call is idempotent. */
async function adminCall(token, method, urlPath, body) {
  for (let attempt = 1; ; attempt++) {
    let res;
    try {
      res = await fetch(`${BASE}${urlPath}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body && { "content-type": "application/json" }) },
        body: body && JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      if (attempt < 3 && !childExit) {
        await sleep(300 * attempt);
        continue;
      }
      throw new ApiError(method, urlPath, 0, "", err);
    }
    const text = await res.text();
    if (res.ok) return JSON.parse(text);
    if (res.status === 503 && attempt < 3) {
      await sleep(300 * attempt);
      continue;
    }
    throw new ApiError(method, urlPath, res.status, text);
  }
}

/**
 * Seeds one SKU-region, one PUT per warehouse. A SKU-region with any history (version > 0) is left
 * alone, except one that an interrupted run left with only some of the catalog's warehouses.
 */
async function seedOne(token, task) {
  const at = `/v1/admin/${task.region}/stock/${encodeURIComponent(task.sku)}`;
  const state = await adminCall(token, "GET", at);
  let toSeed = Object.entries(task.onHand);
  if (state.version > 0) {
    const have = state.warehouses.map((w) => w.warehouse);
    const ours = have.every((w) => w in task.onHand);
    toSeed = toSeed.filter(([w]) => !have.includes(w));
    if (!ours || toSeed.length === 0) return "present";
  }
  for (const [warehouse, onHand] of toSeed) {
    await adminCall(token, "PUT", at, { warehouse, onHand, safetyStock: task.safetyStock });
  }
  return "seeded";
}

async function seed(catalog, token) {
  const tasks = catalog.skus.flatMap((item) =>
    Object.entries(item.stock).map(([region, onHand]) => ({ sku: item.sku, region, onHand, safetyStock: item.safetyStock })),
  );
  const started = performance.now();
  const counts = { seeded: 0, present: 0 };
  let next = 0;
  let done = 0;
  let failure = null;
  const show = () => progress(`seeding ${done}/${tasks.length} SKU-regions`);
  if (!TTY) say(`seeding ${tasks.length} SKU-regions ...`);
  show();
  const worker = async () => {
    while (!failure && next < tasks.length) {
      const task = tasks[next++];
      try {
        counts[await seedOne(token, task)]++;
      } catch (err) {
        failure ??= err;
      }
      done++;
      show();
    }
  };
  await Promise.all(Array.from({ length: Math.min(SEED_CONCURRENCY, tasks.length) }, worker));
  endProgress();
  if (failure) throw seedFailure(failure, counts);
  // What each region sells, for recommendations (Postgres): one upsert per region, so always sent.
  for (const region of Object.keys(catalog.warehouses)) {
    const items = catalog.skus
      .filter((s) => s.stock[region])
      .map(({ sku, name, brand, category, names, prices }) => ({ sku, name, brand, category, ...(names && { names }), ...(prices && { prices }) }));
    try {
      if (items.length) await adminCall(token, "POST", `/v1/admin/${region}/catalog`, { items });
    } catch (err) {
      throw seedFailure(err, counts);
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const kept = counts.seeded === 0 ? " (kept in .wrangler/state)" : "";
  say(`${green("✓")} Demo catalog: seeded ${counts.seeded}, already there ${counts.present}${kept}, took ${seconds} s`);
}

function seedFailure(err, counts) {
  if (!(err instanceof ApiError)) return err;
  const details = [];
  if (err.body) details.push(...(err.problem ? JSON.stringify(err.problem, null, 2) : err.body).split("\n"));
  const code = err.problem?.code;
  const hints = [];
  if (!err.status) hints.push("wrangler stopped answering: look at its output above, then run npm start again");
  else if (code === "unauthorized") {
    hints.push("The admin token (ADMIN_TOKEN in .dev.vars) was refused. wrangler reads .dev.vars only when it starts: if you edited it, run npm start again");
  } else if (code === "unknown_region") {
    hints.push("Every region in scripts/demo-catalog.json must be listed in REGIONS under [vars] in wrangler.toml");
  } else if (err.status >= 400 && err.status < 500) {
    hints.push("scripts/demo-catalog.json holds a value the API refuses (see `detail`; the rules are in schema/contracts.ts)");
  } else {
    hints.push("The worker failed: wrangler's lines above show why. Fix it and run npm start again");
  }
  hints.push(`Seeding resumes where it stopped (${counts.seeded} SKU-regions seeded this run, ${counts.present} were already there)`);
  return new StartError(`Seeding stopped: ${err.message}`, hints, details);
}

// ------------------------------------------------------------------ the examples

/** Quotes a word for bash and zsh. */
const sh = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

function printExamples(catalog, { storefrontKey, adminToken }) {
  const key = `-H ${sh(`X-Api-Key: ${storefrontKey}`)}`;
  const admin = `-H ${sh(`Authorization: Bearer ${adminToken}`)}`;
  const token = `-H "X-Reservation-Token: $TOKEN"`;
  const body = JSON.stringify({ lines: [{ sku: RESERVE_SKU, qty: 1 }] });
  const regions = Object.keys(catalog.warehouses).join(", ");
  const flash = catalog.skus.filter((s) => /limited edition/i.test(`${s.name} ${s.note ?? ""}`));
  const comment = (s) => dim(`# ${s}`);

  say();
  say(`${green("✓")} ${bold("Edge inventory API")} on ${cyan(BASE)}  (regions ${regions})`);
  say(`  API reference  ${cyan(`${BASE}/docs`)}`);
  say(`  OpenAPI        ${cyan(`${BASE}/openapi.json`)}`);
  // The console's live chart follows the flash-sale SKU; it asks for the admin token printed below.
  say(`  Operator console ${cyan(`${BASE}/ops${flash[0] ? `?sku=${flash[0].sku}` : ""}`)}  (sign in with the admin token)`);
  say(`  Keys from .dev.vars: X-Api-Key ${storefrontKey}, admin Bearer ${adminToken}`);
  for (const s of flash) {
    const units = Object.entries(s.stock).map(([r, w]) => `${Object.values(w).reduce((a, b) => a + b, 0)} units in ${r}`).join(", ");
    say(`  Flash-sale SKU: ${s.sku} (${s.name}), ${units}`);
  }
  say();
  say(bold("Try it (bash or zsh; paste each command as it is):"));
  say();
  say(comment(`Availability of three eu SKUs: in stock, low stock, out of stock`));
  say(`curl -s -w '\\n' ${sh(`${BASE}/v1/eu/availability?skus=${EXAMPLE_SKUS.join(",")}`)} ${key}`);
  say();
  say(comment(`Reserve one ${RESERVE_SKU} in eu for 5 minutes (201). Each cart needs its own Idempotency-Key;`));
  say(comment(`retrying with the same key returns the same reservation.`));
  say(`RES=$(curl -s -X POST ${BASE}/v1/eu/reservations ${key} \\`);
  say(`  -H "Idempotency-Key: demo-$(date +%s)-$RANDOM" -H 'Content-Type: application/json' \\`);
  say(`  -d ${sh(body)}); echo "$RES"`);
  say();
  say(comment(`Keep its id and token for the next calls (no jq needed). By hand: RES_ID=<id> TOKEN=<token>`));
  say(`RES_ID=$(node -pe 'JSON.parse(process.argv[1]).id' "$RES"); TOKEN=$(node -pe 'JSON.parse(process.argv[1]).token' "$RES"); echo "RES_ID=$RES_ID TOKEN=$TOKEN"`);
  say();
  say(comment(`Read it (200)`));
  say(`curl -s -w '\\n' "${BASE}/v1/eu/reservations/$RES_ID" ${key} ${token}`);
  say();
  say(comment(`Confirm it: the hold becomes a sale (200). A confirm needs an Idempotency-Key too.`));
  say(`curl -s -w '\\n' -X POST "${BASE}/v1/eu/reservations/$RES_ID/confirm" ${key} ${token} -H "Idempotency-Key: confirm-$RES_ID"`);
  say();
  say(comment(`Or release a hold to give the units back (200). A confirmed reservation cannot be released (409),`));
  say(comment(`so first run the two commands that reserve and keep the id again, then:`));
  say(`curl -s -w '\\n' -X POST "${BASE}/v1/eu/reservations/$RES_ID/release" ${key} ${token}`);
  say();
  say(comment(`Admin: the SKU-region's stock per warehouse, then its event log (oldest first)`));
  say(`curl -s -w '\\n' ${BASE}/v1/admin/eu/stock/${RESERVE_SKU} ${admin}`);
  say(`curl -s -w '\\n' ${BASE}/v1/admin/eu/stock/${RESERVE_SKU}/events ${admin}`);
  say();
  say(dim(`Local state lives in .wrangler/state (objects) and .data/pglite (Postgres); to start from scratch, stop and delete both.`));
  say(`Press ${bold("Ctrl-C")} to stop. wrangler's log follows.`);
  say();
}

// ------------------------------------------------------------------ main

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let stopping = false;

let postgres = null; // { stop() } once started
let bridge = null;
let fakeWarehouses = [];

/** Legacy SOAP warehouses in the demo; the others take signed JSON webhooks. */
const SOAP_WAREHOUSES = new Set(["eu-war", "us-rno"]);

/**
 * One fake warehouse per demo warehouse, real HTTP servers that take our dispatches and call back
 * with allocation and shipment, so the local demo shows the whole saga. Returns the WAREHOUSES and
 * WAREHOUSE_SECRETS the worker needs to reach them.
 */
async function startWarehouses(catalog, secretsJson) {
  let secrets = {};
  try {
    secrets = secretsJson ? JSON.parse(secretsJson) : {};
  } catch {
    throw new StartError("WAREHOUSE_SECRETS in .dev.vars is not valid JSON", ["See .dev.vars.example for its shape"]);
  }
  const config = [];
  for (const [region, ids] of Object.entries(catalog.warehouses)) {
    for (const id of ids) {
      secrets[id] ??= `whsec_${Buffer.from(`dev-secret-for-${id}`).toString("base64")}`;
      const flavour = SOAP_WAREHOUSES.has(id) ? "soap" : "json";
      const fake = await startFakeWarehouse({
        port: 0,
        secret: secrets[id],
        flavour,
        warehouseId: id,
        callbackUrl: BASE,
        autoCallback: true,
        latencyMs: 300,
        shipAfterMs: 3_000,
        log: (line) => {
          if (showAllOutput) say(dim(`warehouse ${id.padEnd(8)} │ ${line}`));
        },
      });
      fakeWarehouses.push(fake);
      config.push({ id, region, adapter: flavour, url: `${fake.url}/${flavour === "json" ? "dispatch" : "soap"}`, timeoutMs: 5_000 });
    }
  }
  return { WAREHOUSES: JSON.stringify(config), WAREHOUSE_SECRETS: JSON.stringify(secrets) };
}

/** Runs the repair cron now and then every 10 minutes, on the clock's tens as the cron would. */
function scheduleRepair() {
  const run = async (why) => {
    if (stopping) return;
    try {
      const res = await fetch(`${BASE}/__scheduled?cron=${encodeURIComponent(REPAIR_CRON)}`, { signal: AbortSignal.timeout(30_000) });
      await res.text();
      say(dim(`repair (${why}): ${res.ok ? "started; its summary is the worker's next \"event\":\"repair\" lines" : `HTTP ${res.status}`}`));
    } catch (err) {
      sayError(yellow(`repair (${why}) could not be started: ${err.message}`));
    }
  };
  void run("start-up");
  const untilNext = REPAIR_EVERY_MS - (Date.now() % REPAIR_EVERY_MS);
  setTimeout(() => {
    void run(REPAIR_CRON);
    setInterval(() => void run(REPAIR_CRON), REPAIR_EVERY_MS).unref();
  }, untilNext).unref();
}

async function shutdown(reason, exitCode) {
  if (stopping) return;
  stopping = true;
  endProgress();
  if (child && !childExit) say(dim(`${reason}: stopping wrangler ...`));
  await stopWrangler();
  await Promise.all(fakeWarehouses.map((w) => w.stop().catch(() => {})));
  await bridge?.close().catch(() => {});
  await postgres?.stop().catch(() => {});
  if (exitCode === 0) say("Stopped.");
  process.exit(exitCode);
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  // npm passes a terminal's Ctrl-C on as well, so the same signal can arrive twice: shutdown() runs once.
  process.on(signal, () => void shutdown(signal, 0));
}
// `npm start` runs this under `sh -c`, and npm passes a SIGTERM only to that shell, which dies
// without passing it on. Noticing the orphaning is what keeps wrangler from outliving npm.
const parentAtStart = process.ppid;
setInterval(() => {
  if (process.ppid !== parentAtStart) void shutdown("parent process exited", 0);
}, 500).unref();
process.on("exit", () => {
  if (child && !childExit && !WINDOWS) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

async function main() {
  say(bold(`edge-inventory: local API with a demo catalog`));
  ensureDevVars();
  const secrets = readDevVars();
  const catalog = readCatalog();
  await ensurePortFree();
  // The system of record: PGlite unless DATABASE_URL names a server, migrated either way, and
  // the WebSocket bridge the Neon driver in the worker reaches it through.
  try {
    postgres = await startLocalPostgres();
  } catch (err) {
    throw new StartError(`Postgres could not be started: ${err.message}`, [
      process.env.DATABASE_URL ? "Check that DATABASE_URL points at a running Postgres" : "Delete .data/pglite if it is damaged, then npm start again",
    ]);
  }
  // PGlite is one connection underneath: the bridge lets one client through at a time.
  bridge = await startBridge(0, "127.0.0.1", { exclusive: postgres.embedded });
  say(`${green("✓")} Postgres: ${postgres.label}; bridge on 127.0.0.1:${bridge.port}`);
  const warehouseVars = await startWarehouses(catalog, secrets.warehouseSecrets);
  say(`${green("✓")} Fake warehouses: ${fakeWarehouses.length} (JSON webhooks and legacy SOAP), calling back ${BASE}`);
  startWrangler({
    ...warehouseVars,
    DATABASE_URL: postgres.url,
    PG_BRIDGE: `127.0.0.1:${bridge.port}`,
    ...(postgres.embedded && { PG_POOL_MAX: "1" }),
    // The local queue delivers within a second or two, and what it held when the last run
    // stopped is gone: the repair resends what is 10 s behind, not 60 s as in production.
    RECONCILE_GRACE_SECONDS: "10",
    // Locally every answer gets its JSON log line (production logs only 5xx and slow ones).
    REQUEST_LOG: "all",
  });
  await waitUntilHealthy();
  endProgress();
  say(`${green("✓")} wrangler dev answers on ${BASE}`);
  const brands = new Set(catalog.skus.map((s) => s.brand)).size;
  const skuRegions = catalog.skus.reduce((n, s) => n + Object.keys(s.stock).length, 0);
  say(dim(`Demo catalog ${path.relative(ROOT, CATALOG_FILE)}: ${catalog.skus.length} SKUs from ${brands} brands, ${skuRegions} SKU-regions`));
  await seed(catalog, secrets.adminToken);
  await sleep(300); // lets wrangler's log of the seeding requests drain while it is still quiet
  printExamples(catalog, secrets);
  showAllOutput = true;
  scheduleRepair();
  await childDone;
  if (!stopping) {
    sayError(red(`✗ wrangler stopped on its own (${describeExit(childExit)}); its output is above.`));
    await shutdown("wrangler exited", childExit.code || 1);
  }
}

main().catch(async (err) => {
  if (stopping) return;
  endProgress();
  sayError(red(`✗ ${err.message}`));
  for (const line of err.details ?? []) sayError(`    ${line}`);
  for (const hint of err.hints ?? []) sayError(`  ${yellow("→")} ${hint}`);
  if (!(err instanceof StartError)) sayError(dim(err.stack ?? ""));
  await shutdown("start failed", 1);
});
