// The edge entry point: storefront and admin routes, the OpenAPI document and its reference page.
// Durable Object classes are exported from here because wrangler binds them by class name.
import { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv, Env } from "./env";
import { consumeDeadLetters } from "./queues/dead-letters";
import { consumeInventoryEvents } from "./queues/inventory-events";
import { consumeDispatchDeadLetters, consumeWarehouseDispatch } from "./queues/warehouse-dispatch";
import { consumeShopperOrders } from "./queues/shopper-orders";
import { onError, Problem } from "./problems";
import { buildEveryRegion } from "./scheduled";
import { stockDeadline } from "./stock-deadline";
import { admin } from "./routes/admin";
import { availability } from "./routes/availability";
import { catalog } from "./routes/catalog";
import { faults } from "./routes/faults";
import { privacy } from "./routes/privacy";
import { recommendations } from "./routes/recommendations";
import { operations } from "./routes/operations";
import { reservations } from "./routes/reservations";
import { warehouseInbound } from "./routes/warehouses";

export { InventoryObject } from "../durable-objects/inventory";
export { ReservationObject } from "../durable-objects/reservation";
export { StockShard } from "../durable-objects/stock-shard";
export { WarehouseCircuit } from "../durable-objects/warehouse-circuit";
export { AvailabilityPage } from "../durable-objects/availability-page";

const app = new OpenAPIHono<AppEnv>();

app.onError(onError);
app.notFound(() => {
  throw new Problem("not_found", "See /docs for the routes");
});
app.use("/v1/*", bodyLimit({ maxSize: 64 * 1024, onError: () => { throw new Problem("payload_too_large", "Bodies are limited to 64 KiB"); } }));

// The ceiling for benchmarks: the cheapest possible answer through the same runtime.
app.get("/healthz", (c) => c.json({ ok: true }));

// Writes to stock answer within a deadline, whatever their objects do (stock-deadline.ts).
app.use("/v1/:region/reservations/*", stockDeadline()); // also matches /v1/:region/reservations

app.route("/", admin);
app.route("/", availability);
app.route("/", reservations);
app.route("/", operations);
app.route("/", warehouseInbound);
app.route("/", catalog);
app.route("/", recommendations);
app.route("/", privacy);
app.route("/", faults);

app.openAPIRegistry.registerComponent("securitySchemes", "storefrontKey", { type: "apiKey", in: "header", name: "X-Api-Key" });
app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", { type: "http", scheme: "bearer" });
app.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: {
    title: "Edge inventory",
    version: "1.0.0",
    description:
      "Stock, reservations, availability and recommendations for a global beauty brand. Errors are application/problem+json with a stable `code`.",
  },
});
app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Edge inventory API" }));

export default {
  fetch: app.fetch,
  async queue(batch, env, ctx) {
    // Queue names carry the region in production (inventory-events-eu, warehouse-dispatch-eu-dlq).
    if (batch.queue.startsWith("warehouse-dispatch")) {
      return batch.queue.endsWith("-dlq") ? consumeDispatchDeadLetters(batch, env, ctx) : consumeWarehouseDispatch(batch, env);
    }
    if (batch.queue.endsWith("-dlq")) return consumeDeadLetters(batch, env, ctx);
    if (batch.queue.startsWith("inventory-events")) return consumeInventoryEvents(batch, env, ctx);
    if (batch.queue.startsWith("shopper-orders")) return consumeShopperOrders(batch, env, ctx);
    console.error(`no consumer for queue ${batch.queue}; retrying so nothing is lost`);
    batch.retryAll({ delaySeconds: 300 });
  },
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(buildEveryRegion(env, controller.cron));
  },
} satisfies ExportedHandler<Env>;
