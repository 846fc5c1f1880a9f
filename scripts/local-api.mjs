// What the local CLIs need to call the running `npm start` server: its address and the keys from
// .dev.vars. Plain ESM JavaScript, no dependencies.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const BASE = process.env.EDGE_URL ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`;

export function devVars() {
  const file = path.join(ROOT, ".dev.vars");
  const vars = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
      const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*["']?(.*?)["']?\s*$/.exec(line);
      if (m) vars[m[1]] = m[2];
    }
  }
  return {
    adminToken: process.env.ADMIN_TOKEN ?? vars.ADMIN_TOKEN ?? "dev-admin-token",
    storefrontKey: (process.env.STOREFRONT_KEY ?? vars.STOREFRONT_KEYS ?? "dev-storefront-key").split(",")[0].trim(),
  };
}

/** The regions the local server serves, as [vars] REGIONS in wrangler.toml says. */
export function localRegions() {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  const m = /^\[vars\][^[]*?^REGIONS\s*=\s*"([^"]*)"/ms.exec(toml);
  return (m?.[1] ?? "eu").split(",").map((r) => r.trim()).filter(Boolean);
}

export async function ensureServer() {
  try {
    const res = await fetch(`${BASE}/healthz`, { signal: AbortSignal.timeout(3000) });
    if (res.ok) return;
  } catch {
    // below
  }
  console.error(`✗ nothing answers on ${BASE}: start the local API first with npm start (or set EDGE_URL)`);
  process.exit(1);
}
