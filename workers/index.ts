// The edge entry point: storefront and admin routes, the OpenAPI document and its reference page.
// Durable Object classes are exported from here because wrangler binds them by class name.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv, Env } from "./env";
import { consumeDeadLetters } from "./queues/dead-letters";
import { consumeInventoryEvents } from "./queues/inventory-events";
import { consumeDispatchDeadLetters, consumeWarehouseDispatch } from "./queues/warehouse-dispatch";
import { consumeShopperOrders } from "./queues/shopper-orders";
import { onError, Problem, problemResponse } from "./problems";
import { openApiDocument } from "./openapi";
import { openAccess } from "./routes/contract";
import { onSchedule } from "./scheduled";
import { stockDeadline } from "./stock-deadline";
import { observe } from "./observe";
import { storefrontFastPath } from "./storefront-fast-path";
import { admin } from "./routes/admin";
import { availability } from "./routes/availability";
import { catalog } from "./routes/catalog";
import { faults } from "./routes/faults";
import { privacy } from "./routes/privacy";
import { recommendationAdmin, recommendations } from "./routes/recommendations";
import { operations } from "./routes/operations";
import { reservations } from "./routes/reservations";
import { bodyTooLarge, warehouseInbound } from "./routes/warehouses";
import { warehouseCircuits } from "./routes/warehouse-circuits";
import { metrics } from "./routes/metrics";
import { error } from "../observability/log";
import { deadLetterReplay } from "./routes/dead-letter-replay";

export { InventoryObject } from "../durable-objects/inventory";
export { ReservationObject } from "../durable-objects/reservation";
export { StockShard } from "../durable-objects/stock-shard";
export { WarehouseCircuit } from "../durable-objects/warehouse-circuit";
export { AvailabilityPage } from "../durable-objects/availability-page";
export { RegionMetrics } from "../durable-objects/region-metrics";

const app = new OpenAPIHono<AppEnv>();

// First, so every answer (errors and 404s too) carries its traceparent and is logged and counted.
app.use("*", observe());
app.onError(onError);
// Answered, not thrown: Hono runs the not-found handler outside the middleware's error handling,
// and a throw would skip what observe() adds to every answer.
app.notFound((c) => problemResponse(c, new Problem("not_found", "See /docs for the routes")));
app.use("/v1/*", bodyLimit({ maxSize: 64 * 1024, onError: (c) => bodyTooLarge(c, 64 * 1024) }));

// The ceiling for benchmarks: the cheapest possible answer through the same runtime.
const checkHealth = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "checkHealth",
  tags: ["meta"],
  summary: "Answers when the Worker runs; touches nothing",
  security: openAccess,
  responses: {
    200: { description: "Up", content: { "application/json": { schema: z.object({ ok: z.literal(true) }).openapi({ example: { ok: true } }) } } },
  },
});
app.openapi(checkHealth, (c) => c.json({ ok: true as const }, 200));

// Writes to stock answer within a deadline, whatever their objects do (stock-deadline.ts).
app.use("/v1/:region/reservations/*", stockDeadline()); // also matches /v1/:region/reservations

app.route("/", admin);
app.route("/", availability);
app.route("/", reservations);
app.route("/", operations);
app.route("/", deadLetterReplay);
app.route("/", warehouseInbound);
app.route("/", warehouseCircuits);
app.route("/", metrics);
app.route("/", catalog);
app.route("/", recommendations);
app.route("/", recommendationAdmin);
app.route("/", privacy);
app.route("/", faults);

app.openAPIRegistry.registerPath({
  method: "get",
  path: "/openapi.json",
  operationId: "getApiDocument",
  tags: ["meta"],
  summary: "This document (OpenAPI 3.1); `region` is an enum of the regions this deployment serves",
  security: openAccess,
  responses: { 200: { description: "The document", content: { "application/json": { schema: z.object({ openapi: z.string() }).passthrough() } } } },
});
app.get("/openapi.json", (c) => c.json(openApiDocument(app, c.env)));

// The reference page loads its script from this Worker's static assets (public/docs, copied from
// node_modules by scripts/docs-assets.mjs): no CDN, so it works offline and behind a strict CSP.
app.openAPIRegistry.registerPath({
  method: "get",
  path: "/docs",
  operationId: "getApiReference",
  tags: ["meta"],
  summary: "Interactive reference (Scalar) for this document, served without third-party requests",
  security: openAccess,
  responses: { 200: { description: "An HTML page", content: { "text/html": { schema: z.string() } } } },
});
const DOCS_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
app.use("/docs", async (c, next) => {
  await next();
  c.header("content-security-policy", DOCS_CSP);
});
// Static assets answer before the Worker runs; this only serves callers that reach the Worker first.
app.get("/docs/:file", (c) => c.env.ASSETS.fetch(c.req.raw));
app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Edge inventory API", cdn: "/docs/scalar-api-reference.js", withDefaultFonts: false, defaultOpenAllTags: true }));

// The operator console: a static page (public/ops.html, public/ops/*) that calls the admin API
// with the token the operator types in; it holds no data itself, so it needs no credentials.
app.openAPIRegistry.registerPath({
  method: "get",
  path: "/ops",
  operationId: "getOperatorConsole",
  tags: ["meta"],
  summary: "Operator console: reconcile state, dead letters, circuits, attention, builds and a live SKU, per region (docs/operations.md)",
  security: openAccess,
  responses: { 200: { description: "An HTML page; it asks for the admin token and calls the admin routes with it", content: { "text/html": { schema: z.string() } } } },
});
// Static assets answer these before the Worker runs; this serves callers that reach the Worker first.
app.get("/ops", (c) => c.env.ASSETS.fetch(new Request(new URL("/ops", c.req.url))));
app.get("/ops/:file", (c) => c.env.ASSETS.fetch(c.req.raw));

export default {
  // The storefront's plain reads skip the router (storefront-fast-path.ts); the router answers the rest.
  fetch: (request: Request, env: Env, ctx: ExecutionContext) => storefrontFastPath(request, env, ctx) ?? app.fetch(request, env, ctx),
  async queue(batch, env, ctx) {
    // Queue names carry the region in production (inventory-events-eu, warehouse-dispatch-eu-dlq).
    if (batch.queue.startsWith("warehouse-dispatch")) {
      return batch.queue.endsWith("-dlq") ? consumeDispatchDeadLetters(batch, env, ctx) : consumeWarehouseDispatch(batch, env, ctx);
    }
    if (batch.queue.endsWith("-dlq")) return consumeDeadLetters(batch, env, ctx);
    if (batch.queue.startsWith("inventory-events")) return consumeInventoryEvents(batch, env, ctx);
    if (batch.queue.startsWith("shopper-orders")) return consumeShopperOrders(batch, env, ctx);
    error("queue_without_consumer", { queue: batch.queue, count: batch.messages.length, retry: "in 300 s, so nothing is lost" });
    batch.retryAll({ delaySeconds: 300 });
  },
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(onSchedule(env, controller.cron, (p) => ctx.waitUntil(p)));
  },
} satisfies ExportedHandler<Env>;
