// Every answer the suite gets from the Worker is held to /openapi.json: the status must be one the
// operation documents, the content type one documented for that status, documented headers present
// and well-formed, and a JSON body valid against its schema. test/client.ts runs every response
// through here; a response that breaks the document fails the test that received it.
// @cfworker/json-schema validates without eval (workerd forbids new Function, which ajv needs).
import { Validator, type Schema } from "@cfworker/json-schema";
import { exports } from "cloudflare:workers";

type MediaType = { schema?: Schema };
type Header = { required?: boolean; schema?: Schema };
type Response = { description: string; headers?: Record<string, Header>; content?: Record<string, MediaType> };
type Operation = { operationId?: string; responses: Record<string, Response> };
type Document = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };

let loaded: Promise<{ doc: Document; routes: Route[]; defs: Record<string, Schema> }> | undefined;
type Route = { template: string; pattern: RegExp; literals: number; item: Record<string, Operation> };

/** The document as this Worker serves it, fetched once per test file. */
function contract() {
  loaded ??= (async () => {
    const res = await exports.default.fetch("http://edge.test/openapi.json");
    if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
    // Component references become $defs, so each schema validates on its own with them alongside.
    const doc = JSON.parse((await res.text()).replaceAll('"#/components/schemas/', '"#/$defs/')) as Document;
    const routes = Object.entries(doc.paths).map(([template, item]) => {
      const segments = template.split("/");
      const pattern = new RegExp(`^${segments.map((s) => (/^\{.+\}$/.test(s) ? "[^/]+" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("/")}$`);
      return { template, pattern, literals: segments.filter((s) => !s.startsWith("{")).length, item };
    });
    // The most literal template first: /v1/admin/eu/stock/X is an admin route, not a region called admin.
    routes.sort((a, b) => b.literals - a.literals);
    const defs = doc.components?.schemas ?? {};
    // Examples are not part of a schema, and the validator would read an example's `id` as a schema id.
    dropExamples(doc);
    closeObjects(doc, defs);
    return { doc, routes, defs };
  })();
  return loaded;
}

function dropExamples(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(dropExamples);
  if (!node || typeof node !== "object") return;
  const record = node as Record<string, unknown>;
  delete record.example;
  delete record.examples;
  Object.values(record).forEach(dropExamples);
}

/**
 * The document leaves objects open (a later release may add fields), but today the API may send
 * only what is documented: here every object that does not say otherwise is closed
 * (`unevaluatedProperties: false`), so an undocumented field in an answer fails its test. Schemas
 * that serve as an allOf base stay open where they are defined and are closed where they are used.
 */
function closeObjects(doc: Document, defs: Record<string, Schema>) {
  const bases = new Set<string>();
  const findBases = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(findBases);
    if (!node || typeof node !== "object") return;
    for (const branch of ((node as Schema).allOf as Schema[] | undefined) ?? []) {
      if (typeof branch.$ref === "string") bases.add(branch.$ref.replace("#/$defs/", ""));
    }
    Object.values(node).forEach(findBases);
  };
  findBases(doc);
  const close = (node: unknown, open: boolean): void => {
    if (Array.isArray(node)) return node.forEach((n) => close(n, false));
    if (!node || typeof node !== "object") return;
    const schema = node as Schema;
    const baseRef = typeof schema.$ref === "string" && bases.has(schema.$ref.replace("#/$defs/", ""));
    const isObject = schema.properties !== undefined || schema.allOf !== undefined || baseRef;
    if (isObject && !open && schema.additionalProperties === undefined && schema.unevaluatedProperties === undefined) {
      schema.unevaluatedProperties = false;
    }
    for (const [key, value] of Object.entries(schema)) {
      if (key === "allOf") (value as Schema[]).forEach((branch) => close(branch, true));
      else if (key === "properties" || key === "$defs") Object.values(value as object).forEach((v) => close(v, false));
      else if (key !== "examples" && key !== "example" && key !== "enum" && key !== "const") close(value, false);
    }
  };
  for (const [name, schema] of Object.entries(defs)) close(schema, bases.has(name));
  for (const item of Object.values(doc.paths)) for (const op of Object.values(item)) close(op.responses, false);
}

const validators = new Map<string, Validator>();
function validator(key: string, schema: Schema, defs: Record<string, Schema>): Validator {
  let v = validators.get(key);
  if (!v) {
    v = new Validator({ ...schema, $defs: { ...defs, ...(schema.$defs as Record<string, Schema> | undefined) } }, "2020-12", false);
    validators.set(key, v);
  }
  return v;
}

export class ContractBreach extends Error {
  override name = "ContractBreach";
}

/**
 * Checks one answer against the document; throws ContractBreach naming the operation and what
 * differs. `text` is the body as received.
 */
export async function checkAgainstContract(method: string, url: string, status: number, headers: Headers, text: string): Promise<void> {
  const { routes, defs } = await contract();
  const path = new URL(url, "http://edge.test").pathname;
  const verb = method.toLowerCase();
  const route = routes.find((r) => r.pattern.test(path) && r.item[verb]);
  const where = `${method} ${path} -> ${status}`;
  const fail = (why: string): never => {
    throw new ContractBreach(`${where} breaks /openapi.json (${route ? `${route.item[verb]!.operationId ?? route.template}` : "no operation"}): ${why}\nbody: ${text.slice(0, 400)}`);
  };
  const type = (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();

  if (!route) {
    // Not an operation: the only documented answer is the not_found problem.
    if (status !== 404 || type !== "application/problem+json") fail("a path and method the document does not have must answer 404 problem");
    const body = JSON.parse(text);
    if (body.code !== "not_found") fail(`expected code not_found, got ${body.code}`);
    return;
  }
  const op = route.item[verb]!;
  const documented = op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`] ?? op.responses.default;
  if (!documented) fail(`status ${status} is not documented (documented: ${Object.keys(op.responses).join(", ")})`);
  const response = documented!;

  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const value = headers.get(name);
    if (value === null) {
      if (header.required) fail(`required header ${name} is missing`);
      continue;
    }
    if (header.schema) {
      const result = validator(`${op.operationId}:${status}:header:${name}`, header.schema, defs).validate(value);
      if (!result.valid) fail(`header ${name}: ${JSON.stringify(value)} does not match ${JSON.stringify(header.schema)}`);
    }
  }

  const content = response.content;
  if (!content || Object.keys(content).length === 0) {
    if (text !== "") fail(`the document says no body, got ${text.length} bytes`);
    return;
  }
  const media = content[type];
  if (!media) fail(`content type '${type}' is not documented (documented: ${Object.keys(content).join(", ")})`);
  if (!/[/+]json$/.test(type) || !media!.schema) return; // XML, HTML, NDJSON: the content type is the contract
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    fail("the body is not JSON");
  }
  const result = validator(`${op.operationId}:${status}:${type}`, media!.schema, defs).validate(body);
  if (!result.valid) {
    const errors = result.errors
      .filter((e) => e.keyword !== "allOf" && e.keyword !== "$ref" && e.keyword !== "properties")
      .slice(0, 5)
      .map((e) => `${e.instanceLocation}: ${e.error}`);
    fail(errors.join("; ") || JSON.stringify(result.errors.slice(0, 3)));
  }
}

/** A Response checked against the document; the Response returned can still be read. */
export async function checked(request: Request, response: globalThis.Response): Promise<globalThis.Response> {
  const text = await response.clone().text();
  await checkAgainstContract(request.method, request.url, response.status, response.headers, text);
  return response;
}

/** For tests that call the handler with an env of their own (missing settings, Postgres down). */
export async function checkedFetch(request: Request, send: (request: Request) => globalThis.Response | Promise<globalThis.Response>): Promise<globalThis.Response> {
  return checked(request, await send(request));
}
