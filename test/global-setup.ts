// Runs in Node before the workerd tests: a throwaway database on the machine's real PostgreSQL,
// migrated with the project's migrations, and the WebSocket bridge the Neon driver connects through.
import type { TestProject } from "vitest/node";

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    bridgePort: number;
    /** Base URL of each fake warehouse, by warehouse id. */
    warehouseUrls: Record<string, string>;
  }
}

/** eu-war and us-rno are legacy SOAP warehouses; the rest take signed JSON webhooks. */
export const FAKE_WAREHOUSES: { id: string; region: string; flavour: "json" | "soap" }[] = [
  { id: "eu-ams", region: "eu", flavour: "json" },
  { id: "eu-war", region: "eu", flavour: "soap" },
  { id: "us-nj", region: "us", flavour: "json" },
  { id: "us-rno", region: "us", flavour: "soap" },
  { id: "apac-sg", region: "apac", flavour: "json" },
  { id: "apac-syd", region: "apac", flavour: "json" },
];

export const warehouseSecret = (id: string) => `whsec_${Buffer.from(`test-secret-for-${id}-0001`).toString("base64")}`;

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
  // Manual mode: the tests decide what each warehouse answers, and when.
  const { startFakeWarehouse } = await import("../warehouses/fake-warehouse.mjs");
  const fakes = await Promise.all(
    FAKE_WAREHOUSES.map((w) => startFakeWarehouse({ port: 0, secret: warehouseSecret(w.id), flavour: w.flavour, warehouseId: w.id, autoCallback: false })),
  );
  project.provide("databaseUrl", url);
  project.provide("bridgePort", bridge.port);
  project.provide("warehouseUrls", Object.fromEntries(FAKE_WAREHOUSES.map((w, i) => [w.id, fakes[i]!.url])));
  return async () => {
    await Promise.all(fakes.map((f: { stop(): Promise<void> }) => f.stop()));
    await bridge.close();
    await dropDatabase(ADMIN_URL, name);
  };
}
