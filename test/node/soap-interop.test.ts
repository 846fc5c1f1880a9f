// Interop with a SOAP stack we did not write: the `soap` npm package (node-soap), in Node.
//  - as a client of our inbound service: it reads the WSDL the Worker serves at ?wsdl, calls the
//    operations, and reads our answers and our Faults (HTTP 500);
//  - as the server of the outbound DispatchOrder, built from the WSDL we publish: our SOAP adapter
//    calls it, and it reads what we send; and as a client of the fake SOAP warehouse's ?wsdl.
// The Worker is the bundle a deploy ships, run by workerd through miniflare (bench/lib). Only
// the signature headers are added by hand (node-soap does not sign): a subclass of its HttpClient.
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as soap from "soap";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorker } from "../../bench/lib/build.mjs";
import { miniflareRunner, type StartedWorker } from "../../bench/lib/runner-miniflare.mjs";
import { dispatchTo } from "../../warehouses/adapters";
import type { DispatchOrder } from "../../warehouses/contracts";
import { checkSignature, signatureFor, startFakeWarehouse, type FakeWarehouse } from "../../warehouses/fake-warehouse.mjs";
import { DISPATCH_ORDER_SERVICE, wsdlDocument } from "../../warehouses/wsdl.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const ADMIN = "interop-admin-token";
const secretOf = (id: string) => `whsec_${Buffer.from(`interop-secret-${id}`).toString("base64")}`;

/** node-soap's HTTP client, signing each request body the Standard Webhooks way. */
class SignedHttpClient extends soap.HttpClient {
  constructor(private readonly secret: string) {
    super();
  }
  override request(rurl: string, data: any, callback: (error: any, res?: any, body?: any) => any, exheaders?: any, exoptions?: any) {
    if (typeof data !== "string") return super.request(rurl, data, callback, exheaders, exoptions); // the ?wsdl GET
    const id = `msg_${crypto.randomUUID()}`;
    const ts = Math.floor(Date.now() / 1000);
    const signed = { ...exheaders, "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": signatureFor(this.secret, id, ts, data) };
    return super.request(rurl, data, callback, signed, exoptions);
  }
}

let worker: StartedWorker;
let fake: FakeWarehouse;
let outdir: string;

beforeAll(async () => {
  fake = await startFakeWarehouse({ port: 0, secret: secretOf("eu-war"), flavour: "soap", warehouseId: "eu-war", autoCallback: false, log: () => {} });
  outdir = mkdtempSync(join(tmpdir(), "soap-interop-"));
  const build = await buildWorker({ projectRoot: ROOT, outdir });
  const runner = await miniflareRunner({
    scriptPath: build.main,
    configPath: join(ROOT, "wrangler.toml"),
    env: "",
    queueConsumers: false, // stock changes only: nothing here needs Postgres
    bindings: {
      REGIONS: "eu",
      ADMIN_TOKEN: ADMIN,
      STOREFRONT_KEYS: "interop-storefront-key",
      USER_ID_SECRET: "interop-user-id-secret",
      DATABASE_URL: "postgres://unused@127.0.0.1:1/unused",
      WAREHOUSES: JSON.stringify([{ id: "eu-war", region: "eu", adapter: "soap", url: `${fake.url}/soap`, timeoutMs: 5_000 }]),
      WAREHOUSE_SECRETS: JSON.stringify({ "eu-war": secretOf("eu-war") }),
    },
  });
  worker = await runner.start();
});

afterAll(async () => {
  await worker?.stop();
  await fake?.stop();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${worker.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json() as Promise<any>;
}

describe("node-soap as a client of our inbound service", () => {
  const inbound = () => soap.createClientAsync(`${worker.url}/v1/warehouses/eu-war/soap?wsdl`, { httpClient: new SignedHttpClient(secretOf("eu-war")) });

  it("reads the WSDL, lists every operation, and applies a StockReceived", async () => {
    const client = await inbound();
    const operations = Object.keys(client.describe().WarehouseEventsService.WarehouseEventsPort).sort();
    expect(operations).toEqual(["AllocationConfirmed", "AllocationRejected", "ShipmentShipped", "StockCounted", "StockDamaged", "StockReceived"]);
    const sku = `INTEROP-${Date.now()}`;
    await admin("PUT", `/v1/admin/eu/stock/${sku}`, { warehouse: "eu-war", onHand: 1 });
    const [result, raw] = await client.StockReceivedAsync({ Sku: sku, Qty: 4 });
    expect(raw).toContain("StockReceivedResponse");
    expect(result).toMatchObject({ Status: "applied", Version: 2 });
    const [counted] = await client.StockCountedAsync({ Sku: sku, OnHand: 12, Sequence: 1 });
    expect(counted).toMatchObject({ Status: "applied", Version: 3 });
    expect(await admin("GET", `/v1/admin/eu/stock/${sku}`)).toMatchObject({ onHand: 12, version: 3 });
  });

  it("reads our Client Fault, sent with HTTP 500, and nothing changes", async () => {
    const client = await inbound();
    const sku = `INTEROP-FAULT-${Date.now()}`;
    await admin("PUT", `/v1/admin/eu/stock/${sku}`, { warehouse: "eu-war", onHand: 1 });
    const error: any = await client.StockReceivedAsync({ Sku: sku, Qty: -4 }).catch((e: unknown) => e);
    expect(error.response?.status).toBe(500);
    expect(error.root?.Envelope?.Body?.Fault).toMatchObject({ faultcode: "soap:Client", faultstring: expect.stringMatching(/^invalid_request: /) });
    expect(await admin("GET", `/v1/admin/eu/stock/${sku}`)).toMatchObject({ onHand: 1, version: 1 });
  });

  it("an unsigned call is refused with a Client Fault naming the signature", async () => {
    const client = await soap.createClientAsync(`${worker.url}/v1/warehouses/eu-war/soap?wsdl`);
    const error: any = await client.StockReceivedAsync({ Sku: "ANY", Qty: 1 }).catch((e: unknown) => e);
    expect(error.response?.status).toBe(500);
    expect(error.root?.Envelope?.Body?.Fault?.faultstring).toMatch(/^invalid_signature: /);
  });
});

describe("node-soap as the DispatchOrder server, called by our SOAP adapter", () => {
  let server: http.Server;
  let url: string;
  const received: { args: any; headers: http.IncomingHttpHeaders; signature: string | null }[] = [];
  let answer: "accept" | "busy" = "accept";

  beforeAll(async () => {
    server = http.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/soap`;
    const service = {
      WarehouseDispatchService: {
        WarehouseDispatchPort: {
          DispatchOrder(args: any, _cb: unknown, _headers: unknown, req: http.IncomingMessage & { rawBody?: string }) {
            received.push({ args, headers: req.headers, signature: checkSignature(secretOf("eu-war"), req.headers as Record<string, string>, raw.get(req) ?? "") });
            // node-soap answers a thrown Fault with HTTP 200 unless told its status.
            if (answer === "busy") throw { Fault: { faultcode: "soap:Server", faultstring: "warehouse busy", statusCode: 500 } };
            return { Accepted: true };
          },
        },
      },
    };
    // The raw body, for checking our signature: node-soap's log hook hands over what it received.
    const raw = new WeakMap<http.IncomingMessage, string>();
    const soapServer = soap.listen(server, "/soap", service, wsdlDocument(DISPATCH_ORDER_SERVICE, url));
    soapServer.log = (type: string, data: any, req: any) => {
      if (type === "received") raw.set(req, data);
    };
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const order: DispatchOrder = {
    deliveryId: "dlv_eu_LIP-ROUGE-01_7",
    warehouseId: "eu-war",
    region: "eu",
    sku: "LIP-ROUGE-01",
    reservationId: "0123456789abcdef".repeat(4),
    qty: 2,
    confirmedAt: "2026-11-23T10:15:00.000Z",
  };
  const config = () => ({ id: "eu-war", region: "eu", adapter: "soap" as const, url, timeoutMs: 5_000 });

  it("takes the order: every field arrives, typed as the WSDL says, under a valid signature", async () => {
    answer = "accept";
    expect(await dispatchTo(config(), secretOf("eu-war"), order)).toEqual({ ok: true, status: 200 });
    const last = received.at(-1)!;
    expect(last.args).toMatchObject({ DeliveryId: order.deliveryId, Region: "eu", Sku: order.sku, ReservationId: order.reservationId, Qty: 2 });
    expect(new Date(last.args.ConfirmedAt).toISOString()).toBe(order.confirmedAt);
    expect(last.headers.soapaction).toBe('"urn:edge-inventory:warehouse#DispatchOrder"');
    expect(last.signature).toBeNull(); // null: checkSignature found nothing wrong
  });

  it("its Server Fault (HTTP 500) is a failure we retry", async () => {
    answer = "busy";
    const result = await dispatchTo(config(), secretOf("eu-war"), order);
    expect(result).toEqual({ ok: false, retryable: true, reason: "SOAP Server fault (HTTP 500): warehouse busy" });
  });
});

describe("node-soap as a client of the fake SOAP warehouse", () => {
  it("reads its DispatchOrder WSDL at ?wsdl and gets an order taken", async () => {
    const client = await soap.createClientAsync(`${fake.url}/soap?wsdl`, { httpClient: new SignedHttpClient(secretOf("eu-war")) });
    const deliveryId = `dlv_eu_INTEROP_${Date.now()}`;
    const [result] = await client.DispatchOrderAsync({
      DeliveryId: deliveryId, Region: "eu", Sku: "INTEROP", ReservationId: "ab".repeat(32), Qty: 1, ConfirmedAt: new Date().toISOString(),
    });
    expect(result).toMatchObject({ Accepted: true });
    expect(fake.deliveries().find((d) => d.deliveryId === deliveryId)).toMatchObject({ sku: "INTEROP", qty: 1 });
  });
});
