// The operator console (/ops) in a real headless Chromium (playwright-core, Debian's chromium),
// against the Worker a deploy would ship, run by workerd through miniflare with its static assets,
// its queue consumers, a throwaway database on the machine's PostgreSQL (through the same bridge
// the workerd suite uses) and a fake JSON warehouse. An operator signs in (a wrong token first),
// watches a SKU while a shopper reserves, sees the system of record lose an event, repairs it
// through the confirm dialog and sees reconcile report ok again. Keeps a screenshot in
// test-artifacts/ops-console.png. Nothing is mocked but the warehouse (a real HTTP server).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorker } from "../../bench/lib/build.mjs";
import { miniflareRunner, type StartedWorker } from "../../bench/lib/runner-miniflare.mjs";
import { launchChromium } from "../../scripts/chromium.mjs";
import { createDatabase, dropDatabase, migrateDatabase } from "../../scripts/db-migrate.mjs";
import { startBridge } from "../../scripts/pg-bridge.mjs";
import { startFakeWarehouse, type FakeWarehouse } from "../../warehouses/fake-warehouse.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const ADMIN = "console-admin-token";
const STOREFRONT = "console-storefront-key";
const SKU = "OPS-LIVE";
const SCREENSHOT = join(ROOT, "test-artifacts", "ops-console.png");
const secret = `whsec_${Buffer.from("console-secret-eu-ams").toString("base64")}`;

let worker: StartedWorker;
let fake: FakeWarehouse;
let bridge: { port: number; close(): Promise<void> };
let database: string;
let sql: pg.Client;
let browser: Browser;
let outdir: string;

beforeAll(async () => {
  database = `edge_inventory_console_${process.pid}_${Date.now()}`;
  const url = await createDatabase(ADMIN_URL, database);
  await migrateDatabase(url);
  sql = new pg.Client({ connectionString: url });
  await sql.connect();
  bridge = await startBridge(0);
  fake = await startFakeWarehouse({ port: 0, secret, flavour: "json", warehouseId: "eu-ams", autoCallback: false, log: () => {} });
  outdir = mkdtempSync(join(tmpdir(), "ops-console-"));
  const build = await buildWorker({ projectRoot: ROOT, outdir });
  const runner = await miniflareRunner({
    scriptPath: build.main,
    configPath: join(ROOT, "wrangler.toml"),
    env: "",
    assets: true, // the console is a static page
    queueConsumers: true, // events reach Postgres; a repair resends through the queue
    bindings: {
      REGIONS: "eu",
      ADMIN_TOKEN: ADMIN,
      STOREFRONT_KEYS: STOREFRONT,
      USER_ID_SECRET: "console-user-id-secret",
      DATABASE_URL: url,
      PG_BRIDGE: `127.0.0.1:${bridge.port}`,
      WAREHOUSES: JSON.stringify([{ id: "eu-ams", region: "eu", adapter: "json", url: `${fake.url}/dispatch`, timeoutMs: 5_000 }]),
      WAREHOUSE_SECRETS: JSON.stringify({ "eu-ams": secret }),
    },
  });
  [worker, browser] = await Promise.all([runner.start(), launchChromium()]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await fake?.stop();
  await bridge?.close();
  await sql?.end();
  if (database) await dropDatabase(ADMIN_URL, database);
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

async function api(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(`${worker.url}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function until<T>(check: () => Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const applied = async () => (await sql.query("SELECT applied_seq FROM stream_positions WHERE region = 'eu' AND sku = $1", [SKU])).rows[0]?.applied_seq as number | undefined;
const text = (page: Page, selector: string) => page.locator(selector).first().textContent({ timeout: 10_000 });

/** Postgres loses the SKU-region's event 2 (as a stopped local run loses what its queue held): back to version 1. */
async function loseEventTwo() {
  const [first] = (await sql.query("SELECT payload FROM inventory_events WHERE region = 'eu' AND sku = $1 AND seq = 1", [SKU])).rows;
  const after = first.payload.after;
  await sql.query("BEGIN");
  await sql.query("DELETE FROM inventory_events WHERE region = 'eu' AND sku = $1 AND seq = 2", [SKU]);
  await sql.query("DELETE FROM reservation_ledger WHERE region = 'eu' AND sku = $1", [SKU]);
  await sql.query("UPDATE stream_positions SET applied_seq = 1 WHERE region = 'eu' AND sku = $1", [SKU]);
  await sql.query("UPDATE sku_region_levels SET on_hand = $2, held = $3, confirmed = $4, safety_stock = $5, available = $6, version = 1 WHERE region = 'eu' AND sku = $1", [
    SKU, after.onHand, after.held, after.confirmed, after.safetyStock, after.available,
  ]);
  await sql.query("COMMIT");
}

describe("the operator console in Chromium", () => {
  it("signs in, follows a SKU while a shopper reserves, and repairs a lost event through the confirm dialog", async () => {
    const admin = { authorization: `Bearer ${ADMIN}` };
    expect((await api("PUT", `/v1/admin/eu/stock/${SKU}`, admin, { warehouse: "eu-ams", onHand: 20 })).status).toBe(200);

    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    const elsewhere: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => m.type() === "error" && !/status of 40[14]/.test(m.text()) && errors.push(m.text()));
    page.on("request", (r) => new URL(r.url()).origin !== new URL(worker.url).origin && elsewhere.push(r.url()));
    await page.goto(`${worker.url}/ops?sku=${SKU}`);
    await page.waitForSelector("body[data-ready=true]"); // the module has loaded the regions and listens

    // A wrong token is refused with a message that says what to use instead.
    await page.fill("#token", "not-the-token");
    await page.click("#login button[type=submit]");
    await expect.poll(() => text(page, "#login-error"), { timeout: 10_000 }).toContain("Wrong admin token: the API answered 401");
    expect(await page.isHidden("#console")).toBe(true);

    await page.fill("#token", ADMIN);
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#console:not([hidden])");
    await expect.poll(() => text(page, "#panel-live [data-field=available]"), { timeout: 10_000 }).toBe("20");
    expect(await text(page, "#panel-live [data-field=held]")).toBe("0");

    // A shopper holds 3 units: the live view follows.
    const held = await api("POST", "/v1/eu/reservations", { "x-api-key": STOREFRONT, "idempotency-key": crypto.randomUUID() }, { lines: [{ sku: SKU, qty: 3 }] });
    expect(held.status).toBe(201);
    await expect.poll(() => text(page, "#panel-live [data-field=held]"), { timeout: 10_000 }).toBe("3");
    expect(await text(page, "#panel-live [data-field=available]")).toBe("17");
    expect(await page.locator("#panel-live polyline[data-series=held]").count()).toBe(1);

    // Postgres has both events, then loses the second one: reconcile shows the SKU-region behind.
    await until(async () => ((await applied()) === 2 ? true : undefined), "event 2 projected");
    await loseEventTwo();
    await page.click("#refresh");
    const row = page.locator(`#panel-reconcile tr[data-sku=${SKU}]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.getAttribute("data-status")).toBe("lagging");
    expect(await text(page, "#panel-reconcile [data-count=lagging]")).toBe("1");

    // Repair: asked first, then done.
    await row.locator("button", { hasText: "Repair" }).click();
    await page.waitForSelector("#confirm[open]");
    expect(await text(page, "#confirm-text")).toContain(`Resend the events of ${SKU} in eu after version 1`);
    await page.click("#confirm-ok");
    await expect.poll(() => text(page, "#action-result"), { timeout: 10_000 }).toBe(`Repair of eu:${SKU}: 1 events queued for Postgres.`);
    await until(async () => ((await applied()) === 2 ? true : undefined), "the resent event projected");
    await expect
      .poll(async () => {
        await page.click("#refresh");
        return `${await text(page, "#panel-reconcile [data-count=ok]")} ok, ${await text(page, "#panel-reconcile [data-count=lagging]")} lagging`;
      }, { timeout: 10_000, interval: 500 })
      .toBe("1 ok, 0 lagging");
    expect(await page.getAttribute("#panel-reconcile", "data-state")).toBe("ok");

    // The errors and latency panel counts the shopper's reservation (GET .../metrics).
    await expect
      .poll(async () => {
        await page.click("#refresh");
        return text(page, "#panel-metrics .body");
      }, { timeout: 10_000, interval: 500 })
      .toContain("Reservation outcomes: created 1");
    expect(Number(await text(page, "#panel-metrics [data-figure=requests]"))).toBeGreaterThan(0);
    expect(await page.locator("#panel-circuits tr[data-warehouse=eu-ams] .status").textContent()).toBe("closed");

    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
    expect(elsewhere).toEqual([]);
    await page.close();
  }, 60_000);

  it("draws the errors and latency panel from the shape GET .../metrics answers, red above 1 % 5xx", async () => {
    const page = await browser.newPage();
    await page.goto(`${worker.url}/ops`);
    await page.waitForSelector("body[data-ready=true]");
    const at = (m: number) => new Date(Date.UTC(2026, 11, 1, 12, m)).toISOString();
    const metrics = {
      region: "eu", from: at(0), to: at(15), minutes: 15,
      requests: { total: 1000, status4xx: 40, status5xx: 20, latencyMs: { p50: 12, p99: 310 } },
      reservations: { outcomes: { held: 300, insufficient_stock: 25 }, latencyMs: { p50: 18, p99: 420 } },
      recommendations: { requests: 200, cacheHits: 150, fromMemo: 50, latencyMs: { p50: 5, p99: 40 } },
      dispatch: { "eu-ams": { ok: 90, failed: 3, deadLettered: 0 } },
      queueLagMs: 800, outboxAgeMs: 1200, reconcileDrift: 0,
      series: [0, 5, 10].map((m, i) => ({ at: at(m), requests: 300 + i, status5xx: i * 5, reservations: 100, p99Ms: 250 + i * 30 })),
    };
    // As page code (a string: the page's own modules, not this file's), on the console's own panel.
    const shown = await page.evaluate(`(async (m) => {
      const { metricsState, metricsView } = await import("/ops/metrics.js");
      const { setPanel } = await import("/ops/dom.js");
      const panel = document.getElementById("panel-metrics");
      setPanel(panel, metricsState(m), metricsView(m));
      const healthy = metricsState({ ...m, requests: { ...m.requests, status5xx: 5 } });
      return { state: panel.dataset.state, healthy, text: panel.textContent, lines: panel.querySelectorAll("polyline").length };
    })(${JSON.stringify(metrics)})`) as { state: string; healthy: string; text: string; lines: number };
    expect(shown.state).toBe("bad"); // 2 % of answers were 5xx
    expect(shown.healthy).toBe("ok"); // 0.5 %
    expect(shown.text).toContain("40 / 20 (2.0 % 5xx)");
    expect(shown.text).toContain("12 ms / 310 ms");
    expect(shown.text).toContain("cache hits 75.0 %, from memo 25.0 %");
    expect(shown.text).toContain("held 300, insufficient_stock 25");
    expect(shown.text).toContain("eu-ams9030");
    expect(shown.lines).toBe(2);
    await page.close();
  });
});
