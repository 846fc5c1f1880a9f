/// <reference types="vite/client" />
// The document itself: what every operation must declare, region names that cannot clash with
// routes, the reference page without third-party requests, and proof that the response check in
// test/contract.ts (which every other test goes through) rejects answers that drift.
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../workers/index";
import { RESERVED_REGION_NAMES } from "../workers/openapi";
import { PROBLEMS } from "../workers/problems";
import { call, storefront } from "./client";
import { checkAgainstContract, checkedFetch, ContractBreach } from "./contract";

const METHODS = ["get", "put", "post", "delete", "patch"];

async function documentOperations() {
  const doc = (await call("GET", "/openapi.json")).body;
  return Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
    Object.entries(item).filter(([method]) => METHODS.includes(method)).map(([method, op]) => ({ path, method, op })),
  );
}

describe("every operation of /openapi.json", () => {
  it("has a unique operationId in the shop's words and declares who may call it", async () => {
    const ops = await documentOperations();
    const ids = ops.map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(["reserveCart", "confirmReservation", "releaseReservation", "getAvailability", "setWarehouseStock"]));
    for (const { path, method, op } of ops) expect(Array.isArray(op.security), `${method} ${path}`).toBe(true);
  });

  it("under /v1 documents its problems: 401 when it needs credentials, 500, each with the codes it can answer", async () => {
    for (const { path, method, op } of (await documentOperations()).filter(({ path }) => path.startsWith("/v1/"))) {
      const label = `${method} ${path}`;
      // SOAP answers every failure, a bad signature included, with a Fault and HTTP 500 (WS-I BP R1126).
      const soap = path.endsWith("/soap");
      if (op.security.length > 0 && !soap) expect(op.responses["401"], label).toBeDefined();
      expect(op.responses["500"], label).toBeDefined();
      for (const [status, response] of Object.entries(op.responses as Record<string, any>)) {
        const problem = response.content?.["application/problem+json"];
        if (!problem) continue;
        const codes: string[] = problem.schema.allOf[1].properties.code.enum;
        for (const code of codes) expect(PROBLEMS[code as keyof typeof PROBLEMS][0], `${label} ${code}`).toBe(Number(status));
        expect(Object.keys(problem.examples).sort(), label).toEqual([...codes].sort());
      }
    }
  });
});

describe("the document's examples", () => {
  it("are answers the response check accepts, for every operation and status that shows one", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    const schemas = doc.components.schemas;
    const concrete = (path: string) =>
      path.replace("{region}", "eu").replace("{id}", "a".repeat(64)).replace(/\{[a-zA-Z]+\}/g, "eu-ams");
    let checkedExamples = 0;
    for (const { path, method, op } of await documentOperations()) {
      for (const [status, response] of Object.entries(op.responses as Record<string, any>)) {
        for (const [type, media] of Object.entries((response.content ?? {}) as Record<string, any>)) {
          if (!type.endsWith("json")) continue;
          const ref = media.schema?.$ref?.replace("#/components/schemas/", "");
          const values = [
            ...Object.values((media.examples ?? {}) as Record<string, { value: unknown }>).map((e) => e.value),
            ...(media.example !== undefined ? [media.example] : []),
            ...(ref && schemas[ref].example !== undefined ? [schemas[ref].example] : []),
          ];
          const headers = new Headers({ "content-type": type });
          for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, any>)) {
            if (header.schema?.example) headers.set(name, header.schema.example);
          }
          for (const value of values) {
            await checkAgainstContract(method.toUpperCase(), concrete(path), Number(status), headers, JSON.stringify(value));
            checkedExamples++;
          }
        }
      }
    }
    expect(checkedExamples).toBeGreaterThan(100);
  });
});

describe("regions and routes", () => {
  it("reserves every word that follows /v1/ in a route, so no region can be taken for a route", async () => {
    const v1 = (await documentOperations()).filter(({ path }) => path.startsWith("/v1/"));
    const words = new Set(v1.map(({ path }) => path.split("/")[2]!).filter((w) => !w.startsWith("{")));
    expect([...words].sort()).toEqual([...RESERVED_REGION_NAMES].sort());
  });

  it("declares the region as an enum of the regions this deployment serves", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    const region = doc.paths["/v1/{region}/availability"].get.parameters.find((p: any) => p.name === "region");
    expect(region.schema.enum).toEqual(env.REGIONS.split(","));
  });

  it("refuses to serve a region named like a route word (503 setting_missing naming REGIONS)", async () => {
    const res = await checkedFetch(new Request("http://edge.test/v1/eu/availability?skus=A", { headers: storefront() }), (request) =>
      worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, REGIONS: "eu,admin" }, createExecutionContext()),
    );
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "setting_missing", setting: "REGIONS" });
  });
});

describe("the reference page", () => {
  it("loads its script from this Worker, under a policy that forbids other origins", async () => {
    const page = await call("GET", "/docs");
    expect(page.status).toBe(200);
    const sources = [...String(page.body).matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]);
    expect(sources).toEqual(["/docs/scalar-api-reference.js"]);
    expect(String(page.body)).not.toMatch(/https?:\/\/(?!docs\.edge-inventory\.dev)/);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    const script = await exports.default.fetch("http://edge.test/docs/scalar-api-reference.js");
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect((await script.text()).length).toBeGreaterThan(1_000_000);
  });
});

describe("the response check every test goes through", () => {
  it("is how every test file reaches the Worker: no bare exports.default.fetch or worker.fetch", () => {
    const files = import.meta.glob<string>("./*.test.ts", { query: "?raw", import: "default", eager: true });
    expect(Object.keys(files).length).toBeGreaterThan(20);
    for (const [file, text] of Object.entries(files)) {
      const lines = text.split("\n");
      // A handler call with an env of its own must sit inside checkedFetch (on its line or the one before).
      const bare = lines.filter(
        (line, i) => /exports\.default\.fetch\(|[^.\w]worker\.fetch\(/.test(line) && !/checkedFetch|\.js"\)/.test(`${lines[i - 1] ?? ""}${line}`),
      );
      expect(bare, file).toEqual([]);
    }
  });

  const held = { id: "a".repeat(64), region: "eu", status: "held", expiresAt: "2026-12-01T07:48:17.573Z", lines: [{ sku: "LIP-ROUGE-01", qty: 2 }], createdAt: "2026-12-01T07:38:17.573Z" };
  // Every answer carries its trace (workers/observe.ts).
  const traced = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" };
  const json = (extra: Record<string, string> = {}) => new Headers({ "content-type": "application/json", ...traced, ...extra });
  const problem = (code: keyof typeof PROBLEMS) =>
    JSON.stringify({ type: `https://docs.edge-inventory.dev/problems/${code}`, title: PROBLEMS[code][1], status: PROBLEMS[code][0], code });
  const breach = (method: string, url: string, status: number, headers: Headers, body: string) =>
    expect(checkAgainstContract(method, url, status, headers, body)).rejects.toThrow(ContractBreach);

  it("accepts an answer as documented", async () => {
    await checkAgainstContract("POST", "/v1/eu/reservations", 201, json(), JSON.stringify({ ...held, token: "t0k3n" }));
  });

  it("rejects a body that lacks a required field or has a wrong type", async () => {
    await breach("POST", "/v1/eu/reservations", 201, json(), JSON.stringify(held)); // no token
    await breach("GET", `/v1/eu/reservations/${held.id}`, 200, json(), JSON.stringify({ ...held, status: "on_hold" }));
    await breach("GET", `/v1/eu/reservations/${held.id}`, 200, json(), JSON.stringify({ ...held, expiresAt: "tomorrow" }));
  });

  it("rejects a field the document does not have, in an answer or a problem", async () => {
    await breach("POST", "/v1/eu/reservations", 201, json(), JSON.stringify({ ...held, token: "t0k3n", holdsInternal: [1] }));
    await breach("GET", "/v1/admin/eu/stock/A", 200, json(), JSON.stringify({ sku: "A", region: "eu", onHand: 1, held: 0, confirmed: 0, safetyStock: 0, available: 1, status: "in_stock", version: 1, warehouses: [], activeHolds: 0, nextDeadline: null, attention: [], debug: true }));
    const short = JSON.parse(problem("insufficient_stock"));
    const problemHeaders = new Headers({ "content-type": "application/problem+json", ...traced });
    await checkAgainstContract("POST", "/v1/eu/reservations", 409, problemHeaders, JSON.stringify({ ...short, lines: [{ sku: "A", requested: 2, available: 1 }] }));
    await breach("POST", "/v1/eu/reservations", 409, problemHeaders, JSON.stringify({ ...short, stack: "Error at ..." }));
  });

  it("rejects a status the operation does not document, and a problem code it does not list", async () => {
    await breach("POST", `/v1/eu/reservations/${held.id}/release`, 410, new Headers({ "content-type": "application/problem+json" }), problem("hold_expired"));
    await breach("POST", "/v1/eu/reservations", 409, new Headers({ "content-type": "application/problem+json" }), problem("version_conflict"));
  });

  it("rejects an undocumented content type and a missing required header", async () => {
    await breach("GET", `/v1/eu/reservations/${held.id}`, 200, new Headers({ "content-type": "text/plain" }), JSON.stringify(held));
    const availability = JSON.stringify({ region: "eu", items: [], asOf: "2026-12-01T07:38:17.535Z" });
    await checkAgainstContract("GET", "/v1/eu/availability?skus=A", 200, json({ etag: 'W/"1"', "cache-control": "private, max-age=2" }), availability);
    await breach("GET", "/v1/eu/availability?skus=A", 200, json({ "cache-control": "private, max-age=2" }), availability);
    const untraced = new Headers({ "content-type": "application/json", etag: 'W/"1"', "cache-control": "private, max-age=2" });
    await breach("GET", "/v1/eu/availability?skus=A", 200, untraced, availability);
  });

  it("rejects anything but the not_found problem for a path the document does not have", async () => {
    await checkAgainstContract("GET", "/v2/nowhere", 404, new Headers({ "content-type": "application/problem+json" }), problem("not_found"));
    await breach("GET", "/v2/nowhere", 200, json(), "{}");
  });
});
