import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

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
          // A throwaway database on the machine's PostgreSQL, made by test/global-setup.ts.
          DATABASE_URL: inject("databaseUrl"),
          PG_BRIDGE: `127.0.0.1:${inject("bridgePort")}`,
        },
      },
    })),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    setupFiles: ["./test/setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
