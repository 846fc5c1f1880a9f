// Compiled by `npm run contract` against the types openapi-typescript generates from /openapi.json
// (dist/contract/edge-inventory.d.ts): proof that a generator reads the document into a usable client.
import type { components, operations, paths, webhooks } from "../../dist/contract/edge-inventory";

type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;
type Problem<R> = R extends { content: { "application/problem+json": infer B } } ? B : never;

// A storefront reserves a cart: the body, the headers and the answers, by operationId.
type Reserve = operations["reserveCart"];
export const body: Reserve["requestBody"]["content"]["application/json"] = { lines: [{ sku: "LIP-ROUGE-01", qty: 2 }], ttlSeconds: 600 };
export const headers: Reserve["parameters"]["header"] = { "x-api-key": "dev-storefront-key", "idempotency-key": "cart-1" };
export const region: Reserve["parameters"]["path"]["region"] = "eu";
export function token(created: Json<Reserve["responses"][201]>): string {
  return created.token;
}
// A 409 carries one of its documented codes, and nothing else type-checks.
export const short: Problem<Reserve["responses"][409]>["code"] = "insufficient_stock";
// @ts-expect-error version_conflict is not an answer of reserveCart
export const wrong: Problem<Reserve["responses"][409]>["code"] = "version_conflict";

export const confirmPath: keyof paths = "/v1/{region}/reservations/{id}/confirm";
export const confirmed: Json<operations["confirmReservation"]["responses"][200]>["status"] = "confirmed";
export const available: components["schemas"]["AvailabilityItem"]["status"] = "low_stock";
export const dispatch: webhooks["dispatchRequested"]["post"]["requestBody"]["content"]["application/json"]["type"] = "dispatch.requested";
