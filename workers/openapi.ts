// The document at /openapi.json: generated from the routes' zod definitions, then completed with
// what only the deployment knows (the regions it serves) and where it runs (servers).
// docs/api-contract.md says what every operation must declare and how the tests hold it to it.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv, Env } from "./env";
import { SECURITY_SCHEMES } from "./routes/contract";
import { TRACEPARENT_PATTERN } from "../observability/trace";

/**
 * Words that follow /v1/ in a route. A region may not be called one of these: `/v1/{region}/...`
 * and `/v1/admin/{region}/...` would then name the same URL. test/contract.test.ts checks this list
 * against the document, so a route with a new word here fails the suite until the word is added.
 */
export const RESERVED_REGION_NAMES = ["admin", "warehouses"] as const;

export const SERVERS = [
  { url: "https://eu.api.edge-inventory.dev", description: "eu deployment (wrangler deploy --env eu): serves region eu" },
  { url: "https://us.api.edge-inventory.dev", description: "us deployment (wrangler deploy --env us): serves region us" },
  { url: "https://apac.api.edge-inventory.dev", description: "apac deployment (wrangler deploy --env apac): serves region apac" },
  { url: "http://127.0.0.1:8787", description: "local (npm start): every region in one process" },
];

let regionsSetting: string | undefined;
let regionsServed: readonly string[] = [];

/** REGIONS as a list, worked out once per isolate (and again only if the setting differs). */
export function servedRegions(env: Pick<Env, "REGIONS">): readonly string[] {
  if (env.REGIONS !== regionsSetting) {
    regionsServed = env.REGIONS.split(",").map((r) => r.trim()).filter(Boolean);
    regionsSetting = env.REGIONS;
  }
  return regionsServed;
}

const TRACEPARENT = {
  description: "W3C Trace Context: this answer's trace (yours continued when you sent a valid traceparent) and span",
  required: true,
  schema: { type: "string", pattern: TRACEPARENT_PATTERN, example: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
} as const;

type Document = ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>;
let cached: { regions: string; doc: Document } | undefined;

export function openApiDocument(app: OpenAPIHono<AppEnv>, env: Pick<Env, "REGIONS">): Document {
  if (cached?.regions === env.REGIONS) return cached.doc;
  const regions = servedRegions(env);
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Edge inventory",
      version: "1.0.0",
      description:
        "Stock, reservations, availability and recommendations for a global beauty brand. Errors are " +
        "application/problem+json (RFC 9457) with a stable `code`; each operation lists the codes it can answer with. " +
        "Each region is its own deployment: call the server of the shopper's region. " +
        "Send a W3C `traceparent` header to have your trace continued (an invalid one is ignored and a new trace started); " +
        "every answer carries the `traceparent` of its trace.",
      license: { name: "Proprietary: for the brand's storefronts, warehouses and operators", url: "https://docs.edge-inventory.dev/licence" },
      contact: { name: "Edge inventory team", url: "https://docs.edge-inventory.dev" },
    },
    servers: SERVERS,
    tags: [
      { name: "storefront", description: "Availability, reservations and recommendations, with a storefront key" },
      { name: "admin", description: "Stock, catalog, recommendation builds and erasure, with the admin token" },
      { name: "operations", description: "Reconciliation, dead letters and costs, with the admin token" },
      { name: "warehouses", description: "What warehouses tell us (signed webhooks) and what we send them" },
      { name: "meta", description: "Health, this document and its reference page" },
    ],
  });
  doc.components = { ...doc.components, securitySchemes: { ...SECURITY_SCHEMES } } as Document["components"];
  // The region in a path is one this deployment serves: an enum, which also tells tools that
  // `admin` and `warehouses` are not regions.
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item as Record<string, { parameters?: { name: string; in: string; schema?: Record<string, unknown> }[] }>)) {
      for (const p of op.parameters ?? []) {
        if (p.in === "path" && p.name === "region" && p.schema) p.schema = { ...p.schema, enum: regions, example: regions[0] };
      }
    }
  }
  // Every answer carries its trace (workers/observe.ts): the caller's trace continued, or a new one.
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item as Record<string, { responses?: Record<string, { headers?: Record<string, unknown> }> }>)) {
      for (const response of Object.values(op.responses ?? {})) response.headers = { ...response.headers, traceparent: TRACEPARENT };
    }
  }
  // Webhooks are named, not paths: the registry prefixes their names with "/".
  if (doc.webhooks) doc.webhooks = Object.fromEntries(Object.entries(doc.webhooks).map(([name, item]) => [name.replace(/^\//, ""), item]));
  cached = { regions: env.REGIONS, doc };
  return doc;
}
