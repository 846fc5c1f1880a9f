// The deployment's warehouses and their secrets, from configuration (WAREHOUSES var and
// WAREHOUSE_SECRETS secret, per region). Parsed once per isolate; a broken configuration fails
// loudly instead of silently dispatching nowhere.
import { WarehousesConfig, type WarehouseConfig } from "../warehouses/contracts";
import type { Env } from "./env";

let cached: { raw: string; secrets: string; warehouses: WarehouseConfig[]; secretById: Record<string, string> } | null = null;

function load(env: Pick<Env, "WAREHOUSES" | "WAREHOUSE_SECRETS">) {
  const raw = env.WAREHOUSES ?? "[]";
  const secrets = env.WAREHOUSE_SECRETS ?? "{}";
  if (cached && cached.raw === raw && cached.secrets === secrets) return cached;
  const warehouses = WarehousesConfig.parse(JSON.parse(raw));
  const secretById = JSON.parse(secrets) as Record<string, string>;
  cached = { raw, secrets, warehouses, secretById };
  return cached;
}

/** The warehouses configured for `region` (their ids), whether or not their secrets are set. */
export function warehousesOf(env: Pick<Env, "WAREHOUSES" | "WAREHOUSE_SECRETS">, region: string): string[] {
  return load(env).warehouses.filter((w) => w.region === region).map((w) => w.id);
}

export function warehouse(env: Pick<Env, "WAREHOUSES" | "WAREHOUSE_SECRETS">, id: string): { config: WarehouseConfig; secret: string } | null {
  const { warehouses, secretById } = load(env);
  const config = warehouses.find((w) => w.id === id);
  const secret = secretById[id];
  return config && secret ? { config, secret } : null;
}
