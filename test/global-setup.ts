// Runs in Node before the workerd tests: a throwaway database on the machine's real PostgreSQL,
// migrated with the project's migrations, and the WebSocket bridge the Neon driver connects through.
import type { TestProject } from "vitest/node";

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    bridgePort: number;
  }
}

export default async function setup(project: TestProject) {
  const { createDatabase, dropDatabase, migrateDatabase } = await import("../scripts/db-migrate.mjs");
  const { startBridge } = await import("../scripts/pg-bridge.mjs");
  const name = `edge_inventory_test_${process.pid}_${Date.now()}`;
  let url: string;
  try {
    url = await createDatabase(ADMIN_URL, name);
  } catch (err) {
    throw new Error(
      `Cannot create a test database through ${ADMIN_URL}: ${(err as Error).message}. ` +
        "Start PostgreSQL (see README, Tests) or set TEST_DATABASE_ADMIN_URL.",
    );
  }
  await migrateDatabase(url);
  const bridge = await startBridge(0);
  project.provide("databaseUrl", url);
  project.provide("bridgePort", bridge.port);
  return async () => {
    await bridge.close();
    await dropDatabase(ADMIN_URL, name);
  };
}
