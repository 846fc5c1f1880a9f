// Tests that must run in Node, not inside workerd: they drive the Worker from outside with Node-only
// clients (the `soap` package), against the bundle a deploy would ship, run by workerd through
// miniflare (bench/lib). `npm test` runs them after the workerd suite.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/node/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
