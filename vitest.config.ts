import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { copyDocsAssets } from "./scripts/docs-assets.mjs";

// /docs serves the reference script from static assets (wrangler.toml [assets]): put it there first.
copyDocsAssets();

// Same list as FAKE_WAREHOUSES in test/global-setup.ts (which vitest loads separately).
const WAREHOUSES = [
  ["eu-ams", "eu", "json"],
  ["eu-war", "eu", "soap"],
  ["us-nj", "us", "json"],
  ["us-rno", "us", "soap"],
  ["apac-sg", "apac", "json"],
  ["apac-syd", "apac", "json"],
] as const;
const secret = (id: string) => `whsec_${Buffer.from(`test-secret-for-${id}-0001`).toString("base64")}`;
// Test-only regions: every recommendation test builds in a region of its own, because all test
// files share one Postgres database and a build reads the whole region's order history.
const letters = "abcdefghijklmnop";

const sandboxRegions = ["recs", "erase", "build", "repair", "logs", "trace", "ops", "rcache", "fast"].flatMap((file) => [...letters].map((l) => `${file}${l}`));

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // Tests never read .dev.vars: their secrets and the database come from here.
        bindings: {
          STOREFRONT_KEYS: "test-storefront-key,second-storefront-key",
          ADMIN_TOKEN: "test-admin-token",
          USER_ID_SECRET: "test-user-id-secret",
          REGIONS: ["eu", "us", "apac", ...sandboxRegions].join(","),
          // A throwaway database on the machine's PostgreSQL, made by test/global-setup.ts.
          DATABASE_URL: inject("databaseUrl"),
          PG_BRIDGE: `127.0.0.1:${inject("bridgePort")}`,
          // Real HTTP to fake warehouses started by test/global-setup.ts.
          WAREHOUSES: JSON.stringify(
            WAREHOUSES.map(([id, region, adapter]) => ({
              id, region, adapter, timeoutMs: 2_000,
              url: `${inject("warehouseUrls")[id]}/${adapter === "json" ? "dispatch" : "soap"}`,
            })),
          ),
          WAREHOUSE_SECRETS: JSON.stringify(Object.fromEntries(WAREHOUSES.map(([id]) => [id, secret(id)]))),
        },
      },
    })),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    // Node-side tests (vitest.node.config.ts) drive the Worker from outside.
    exclude: ["test/node/**", "node_modules/**"],
    globalSetup: ["./test/global-setup.ts"],
    setupFiles: ["./test/setup.ts"],
    // Two files at a time on a 2-core machine (the default is one): most of a file's time is spent
    // waiting on Postgres, queues and alarms, so the suite takes about 3.5 instead of 6 minutes.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // Every answer writes one info line (workers/observe.ts): kept out of the suite's output (tests
    // that read the log spy on console, which still sees them). Warnings and errors are printed.
    onConsoleLog: (line) => (line.startsWith('{"time":') && line.includes('"level":"info"') ? false : undefined),
  },
});
