// A real HTTP server that plays a warehouse, JSON or SOAP flavoured, for tests and the local demo. It
// checks our Standard Webhooks signature on every dispatch, takes each delivery once, and calls our
// inbound endpoint back (allocation, then shipment) the way a real one would: late, sometimes twice,
// sometimes out of order. Node only; signing is reimplemented here with node:crypto on purpose, so a
// bug in warehouses/signing.ts cannot hide behind the same bug on the other side.
//
//   node warehouses/fake-warehouse.mjs --flavour json --port 9101 --secret whsec_... \
//        --warehouse eu-ams --callback http://127.0.0.1:8787 [--latency 200] [--failure-rate 0.1] ...
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import http from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { DISPATCH_ORDER_SERVICE, wsdlDocument } from "./wsdl.mjs";

const SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/";
const WAREHOUSE_NS = "urn:edge-inventory:warehouse";
const SOAP_CONTENT_TYPE = "text/xml; charset=utf-8";
const TOLERANCE_SECONDS = 300;
const MAX_BODY_BYTES = 1024 * 1024;
const DISPATCH_FIELDS = ["DeliveryId", "Region", "Sku", "ReservationId", "Qty", "ConfirmedAt"];

/** The SOAP operation and fields for each event type a warehouse reports. */
const SOAP_OPERATIONS = {
  "stock.counted": ["StockCounted", { Sku: "sku", OnHand: "onHand", Sequence: "sequence" }],
  "stock.received": ["StockReceived", { Sku: "sku", Qty: "qty" }],
  "stock.damaged": ["StockDamaged", { Sku: "sku", Qty: "qty" }],
  "allocation.confirmed": ["AllocationConfirmed", { Sku: "sku", ReservationId: "reservationId" }],
  "allocation.rejected": ["AllocationRejected", { Sku: "sku", ReservationId: "reservationId", Reason: "reason" }],
  "shipment.shipped": ["ShipmentShipped", { Sku: "sku", ReservationId: "reservationId", TrackingId: "trackingId" }],
};

// ---- signing (Standard Webhooks) -------------------------------------------------------------

function keyOf(secret) {
  const key = Buffer.from(String(secret).replace(/^whsec_/, ""), "base64");
  if (key.length === 0) throw new TypeError("the warehouse secret must be whsec_ followed by non-empty base64");
  return key;
}

/** The webhook-signature header value for one message. */
export function signatureFor(secret, id, timestampSeconds, body) {
  const mac = createHmac("sha256", keyOf(secret)).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
  return `v1,${mac}`;
}

/** null when the headers sign the body with the secret, else why not. */
export function checkSignature(secret, headers, body, nowSeconds = Math.floor(Date.now() / 1000)) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures) return "missing webhook-id, webhook-timestamp or webhook-signature";
  if (!/^\d+$/.test(timestamp)) return "webhook-timestamp is not a number";
  if (Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_SECONDS) return "webhook-timestamp outside the tolerance";
  const expected = Buffer.from(signatureFor(secret, id, timestamp, body).slice(3), "base64");
  for (const entry of signatures.split(/\s+/)) {
    if (!entry.startsWith("v1,")) continue;
    const given = Buffer.from(entry.slice(3), "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) return null;
  }
  return "no matching signature";
}

/**
 * POSTs a Standard Webhooks signed body (for tests and scripts that play a warehouse by hand).
 * Resolves to the fetch Response.
 */
export async function signedPost(url, secret, body, options = {}) {
  const id = options.id ?? newMessageId();
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const headers = {
    "content-type": options.contentType ?? "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signatureFor(secret, id, timestamp, body),
  };
  if (options.traceparent) headers.traceparent = options.traceparent;
  if (options.soapAction) headers.soapaction = options.soapAction.startsWith('"') ? options.soapAction : `"${options.soapAction}"`;
  return fetch(url, { method: "POST", headers, body, signal: options.signal });
}

/** The same trace in a new span of the warehouse's (W3C traceparent), or undefined without one. */
function childTraceparent(traceparent) {
  const match = /^([0-9a-f]{2})-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/.exec(traceparent ?? "");
  return match ? `00-${match[2]}-${randomBytes(8).toString("hex")}-${match[3]}` : undefined;
}

function newMessageId() {
  return `msg_${randomBytes(12).toString("hex")}`;
}

// ---- XML, just enough for a fake -------------------------------------------------------------

function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]);
}

function unescapeXml(text) {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, ref) => {
    if (ref[0] === "#") return String.fromCodePoint(ref[1].toLowerCase() === "x" ? parseInt(ref.slice(2), 16) : Number(ref.slice(1)));
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[ref.toLowerCase()];
  });
}

function soapEnvelope(operation, fields, traceparent) {
  const children = Object.entries(fields)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`)
    .join("");
  // The shop's trace, sent back the way it came: a Traceparent header block.
  const header = traceparent ? `<soap:Header><Traceparent xmlns="${WAREHOUSE_NS}">${escapeXml(traceparent)}</Traceparent></soap:Header>` : "";
  return (
    `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${SOAP_ENVELOPE_NS}">${header}<soap:Body>` +
    `<${operation} xmlns="${WAREHOUSE_NS}">${children}</${operation}></soap:Body></soap:Envelope>`
  );
}

function soapFault(code, message) {
  return (
    `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${SOAP_ENVELOPE_NS}"><soap:Body><soap:Fault>` +
    `<faultcode>soap:${code}</faultcode><faultstring>${escapeXml(message)}</faultstring></soap:Fault></soap:Body></soap:Envelope>`
  );
}

/** The text of a Traceparent header block, if the envelope has one. */
function readTraceBlock(xml) {
  const match = xml.match(/<(?:\w+:)?Traceparent\b[^>]*>([^<]*)<\/(?:\w+:)?Traceparent>/);
  return match ? unescapeXml(match[1].trim()) : null;
}

/** The DispatchOrder fields of a SOAP request, or a string saying what is wrong with it. */
function readDispatchEnvelope(xml) {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return "DOCTYPE is not allowed";
  if (!/<(\w+:)?Envelope\b[^>]*http:\/\/schemas\.xmlsoap\.org\/soap\/envelope\//.test(xml)) return "not a SOAP 1.1 Envelope";
  if (!/<(\w+:)?DispatchOrder\b/.test(xml)) return "the Body holds no DispatchOrder";
  const order = {};
  for (const field of DISPATCH_FIELDS) {
    const match = xml.match(new RegExp(`<(?:\\w+:)?${field}>([^<]*)</(?:\\w+:)?${field}>`));
    if (!match) return `<${field}> is missing`;
    order[field] = unescapeXml(match[1].trim());
  }
  return {
    deliveryId: order.DeliveryId,
    region: order.Region,
    sku: order.Sku,
    reservationId: order.ReservationId,
    qty: Number(order.Qty),
    confirmedAt: order.ConfirmedAt,
  };
}

// ---- the warehouse ---------------------------------------------------------------------------

/**
 * Starts the warehouse; resolves to { url, port, deliveries(), requests(), callbacks(), sendEvent(),
 * settled(), stop() }. Rates are probabilities per dispatch (or per callback for duplicateRate).
 */
export async function startFakeWarehouse(options) {
  const {
    port = 0,
    host = "127.0.0.1",
    secret,
    flavour = "json",
    latencyMs = 0,
    failureRate = 0,
    timeoutRate = 0,
    rejectRate = 0,
    duplicateRate = 0,
    outOfOrder = false,
    callbackUrl,
    warehouseId,
    autoCallback = true,
    shipAfterMs = 2000,
    callbackAttempts = 4,
    random = Math.random,
    log = (line) => console.log(line),
  } = options ?? {};
  keyOf(secret);
  if (flavour !== "json" && flavour !== "soap") throw new TypeError('flavour must be "json" or "soap"');
  if (callbackUrl && !warehouseId) throw new TypeError("a warehouseId is needed to call back");

  const name = `[fake-warehouse ${warehouseId ?? flavour}]`;
  const say = (line) => log(`${name} ${line}`);
  const deliveries = new Map();
  const requestLog = [];
  const callbackLog = [];
  const timers = new Map();
  const inFlight = new Set();
  const hanging = new Set();
  const stopping = new AbortController();

  /** fn after ms; once stopped, resolves at once without calling fn, so nothing waits forever. */
  const later = (ms, fn) =>
    new Promise((resolve) => {
      if (stopping.signal.aborted) return resolve(undefined);
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve(fn());
      }, ms);
      timers.set(timer, resolve);
    });
  const track = (promise) => {
    const tracked = promise.catch((err) => say(`internal error: ${err?.stack ?? err}`)).finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    return tracked;
  };

  // -- inbound: our dispatches --

  const server = http.createServer((req, res) => {
    readBody(req)
      .then((body) => route(req, res, body))
      .catch((err) => {
        say(`bad request: ${err.message}`);
        if (!res.headersSent) res.writeHead(400).end();
      });
  });

  async function route(req, res, body) {
    const path = new URL(req.url ?? "/", "http://warehouse").pathname;
    if (req.method === "GET" && path === "/deliveries") return send(res, 200, "application/json", JSON.stringify([...deliveries.values()]));
    if (req.method === "GET" && path === "/healthz") return send(res, 200, "application/json", JSON.stringify({ ok: true, flavour }));
    if (req.method === "GET" && flavour === "soap" && new URL(req.url ?? "/", "http://warehouse").searchParams.has("wsdl")) {
      return send(res, 200, SOAP_CONTENT_TYPE, wsdlDocument(DISPATCH_ORDER_SERVICE, `http://${req.headers.host}${path}`));
    }
    if (req.method !== "POST") return send(res, 405, "text/plain", "POST a dispatch, or GET /deliveries");
    return dispatch(req, res, body);
  }

  async function dispatch(req, res, body) {
    const webhookId = req.headers["webhook-id"] ?? null;
    const note = (outcome, deliveryId = null) => {
      requestLog.push({ at: new Date().toISOString(), webhookId, deliveryId, outcome });
      say(`dispatch ${deliveryId ?? webhookId ?? "?"}: ${outcome}`);
    };
    // A SOAP stack faults with HTTP 500 whatever the fault (SOAP 1.1, WS-I BP R1126).
    const refuse = (status, message) =>
      flavour === "soap"
        ? send(res, 500, SOAP_CONTENT_TYPE, soapFault("Client", message))
        : send(res, status, "application/json", JSON.stringify({ error: message }));

    const unsigned = checkSignature(secret, req.headers, body);
    if (unsigned) {
      note(`refused, 401 (${unsigned})`);
      return refuse(401, `signature: ${unsigned}`);
    }
    const order = flavour === "soap" ? readSoapDispatch(req, body) : readJsonDispatch(body);
    if (typeof order === "string") {
      note(`refused, 400 (${order})`);
      return refuse(flavour === "soap" ? 500 : 400, order);
    }
    // The shop's trace: the Traceparent header block (SOAP) or the traceparent HTTP header.
    const block = flavour === "soap" ? readTraceBlock(body) : null;
    const traceparent = block || req.headers.traceparent || null;
    if (traceparent) Object.assign(order, { traceparent, traceFrom: block ? "soap-header" : "http-header" });

    const known = deliveries.get(order.deliveryId);
    if (known) {
      known.attempts += 1;
      note("duplicate, not processed again", order.deliveryId);
      await later(latencyMs, () => {});
      return flavour === "soap"
        ? send(res, 200, SOAP_CONTENT_TYPE, soapEnvelope("DispatchOrderResponse", { Accepted: true, Duplicate: true }))
        : send(res, 409, "application/json", JSON.stringify({ duplicate: true, deliveryId: order.deliveryId }));
    }
    if (random() < timeoutRate) {
      // Taken but never answered: the sender cannot tell, retries, and must hit the dedupe above.
      accept(order, webhookId);
      note("taken, answer withheld (timeout)", order.deliveryId);
      hanging.add(res);
      res.on("close", () => hanging.delete(res));
      return;
    }
    if (random() < failureRate) {
      note("failed, not taken (503)", order.deliveryId);
      await later(latencyMs, () => {});
      return flavour === "soap"
        ? send(res, 500, SOAP_CONTENT_TYPE, soapFault("Server", "warehouse system busy, try again"))
        : send(res, 503, "application/json", JSON.stringify({ error: "warehouse system busy, try again" }));
    }
    accept(order, webhookId);
    note("taken", order.deliveryId);
    await later(latencyMs, () => {});
    return flavour === "soap"
      ? send(res, 200, SOAP_CONTENT_TYPE, soapEnvelope("DispatchOrderResponse", { Accepted: true }))
      : send(res, 200, "application/json", JSON.stringify({ accepted: true, deliveryId: order.deliveryId }));
  }

  function readJsonDispatch(body) {
    let message;
    try {
      message = JSON.parse(body);
    } catch {
      return "the body is not JSON";
    }
    if (message?.type !== "dispatch.requested" || typeof message.data !== "object" || message.data === null) {
      return 'expected { type: "dispatch.requested", data }';
    }
    const order = message.data;
    for (const field of ["deliveryId", "sku", "reservationId"]) {
      if (typeof order[field] !== "string" || order[field] === "") return `data.${field} is missing`;
    }
    if (!Number.isInteger(order.qty) || order.qty < 1) return "data.qty must be a positive integer";
    return order;
  }

  function readSoapDispatch(req, body) {
    const action = String(req.headers.soapaction ?? "").replace(/^"|"$/g, "");
    if (action !== `${WAREHOUSE_NS}#DispatchOrder`) return `unexpected SOAPAction "${action}"`;
    const order = readDispatchEnvelope(body);
    if (typeof order === "string") return order;
    if (!Number.isInteger(order.qty) || order.qty < 1) return "<Qty> must be a positive integer";
    return order;
  }

  function accept(order, webhookId) {
    const delivery = {
      ...order,
      webhookId,
      receivedAt: new Date().toISOString(),
      attempts: 1,
      allocation: "pending",
      trackingId: null,
    };
    deliveries.set(order.deliveryId, delivery);
    if (callbackUrl && autoCallback) track(allocateAndShip(delivery));
  }

  // -- outbound: our callbacks to the shop --

  async function allocateAndShip(delivery) {
    const { sku, reservationId } = delivery;
    const rejected = random() < rejectRate;
    delivery.allocation = rejected ? "rejected" : "confirmed";
    const allocation = rejected
      ? { type: "allocation.rejected", sku, reservationId, reason: "not on the shelf at pick time" }
      : { type: "allocation.confirmed", sku, reservationId };
    const trace = { traceparent: childTraceparent(delivery.traceparent) };
    if (rejected) return later(latencyMs, () => deliver(allocation, trace));

    delivery.trackingId = `TRK${randomBytes(6).toString("hex").toUpperCase()}`;
    const shipped = { type: "shipment.shipped", sku, reservationId, trackingId: delivery.trackingId };
    const [first, second] = outOfOrder && random() < 0.5 ? [shipped, allocation] : [allocation, shipped];
    await later(latencyMs, () => deliver(first, trace));
    await later(shipAfterMs, () => deliver(second, trace));
  }

  /** One event to the shop, maybe twice with the same webhook-id (duplicateRate). */
  async function deliver(event, { traceparent } = {}) {
    const id = newMessageId();
    const first = await sendEvent(event, { id, traceparent });
    if (random() < duplicateRate) await sendEvent(event, { id, duplicate: true, traceparent });
    return first;
  }

  /** Sends one signed event to the shop's inbound endpoint, retrying transient failures with backoff. */
  async function sendEvent(event, { id = newMessageId(), duplicate = false, traceparent } = {}) {
    if (!callbackUrl || !warehouseId) throw new Error("sendEvent needs callbackUrl and warehouseId");
    const { url, body, contentType, soapAction } = callbackRequest(event, traceparent);
    let outcome = { status: 0, error: "not sent" };
    for (let attempt = 1; attempt <= callbackAttempts && !stopping.signal.aborted; attempt += 1) {
      try {
        const response = await signedPost(url, secret, body, { id, contentType, soapAction, traceparent, signal: stopping.signal });
        const text = await response.text();
        outcome = { status: response.status, body: text };
        const retry = response.status === 408 || response.status === 429 || (response.status >= 500 && !/faultcode>[^<]*Client/.test(text));
        callbackLog.push({ at: new Date().toISOString(), id, type: event.type, attempt, duplicate, status: response.status });
        say(`callback ${event.type} ${event.sku}${event.reservationId ? ` ${event.reservationId.slice(0, 12)}…` : ""} (${id}${duplicate ? ", duplicate" : ""}) -> ${response.status}`);
        if (!retry) break;
      } catch (err) {
        if (stopping.signal.aborted) break;
        outcome = { status: 0, error: err.cause?.message ?? err.message };
        callbackLog.push({ at: new Date().toISOString(), id, type: event.type, attempt, duplicate, error: outcome.error });
        say(`callback ${event.type} (${id}) failed, attempt ${attempt}: ${outcome.error}`);
      }
      if (attempt < callbackAttempts) await later(250 * 2 ** (attempt - 1), () => {});
    }
    return outcome;
  }

  function callbackRequest(event, traceparent) {
    const base = `${callbackUrl.replace(/\/+$/, "")}/v1/warehouses/${encodeURIComponent(warehouseId)}`;
    if (flavour === "json") return { url: `${base}/events`, body: JSON.stringify(event), contentType: "application/json" };
    const known = SOAP_OPERATIONS[event.type];
    if (!known) throw new TypeError(`no SOAP operation for ${event.type}`);
    const [operation, fieldKeys] = known;
    const fields = Object.fromEntries(Object.entries(fieldKeys).map(([element, key]) => [element, event[key]]));
    return {
      url: `${base}/soap`,
      body: soapEnvelope(operation, fields, traceparent),
      contentType: SOAP_CONTENT_TYPE,
      soapAction: `"${WAREHOUSE_NS}#${operation}"`,
    };
  }

  // -- lifecycle --

  const sockets = new Set();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const bound = server.address().port;
  const url = `http://${host}:${bound}`;
  say(`${flavour} warehouse listening on ${url}${callbackUrl ? `, calling back ${callbackUrl}` : ""}`);

  return {
    url,
    port: bound,
    deliveries: () => [...deliveries.values()].map((d) => ({ ...d })),
    requests: () => requestLog.map((r) => ({ ...r })),
    callbacks: () => callbackLog.map((c) => ({ ...c })),
    /** Sends any warehouse event now (a stock count, say); resolves to { status, body } or { status: 0, error }. */
    sendEvent(event, opts) {
      const sending = sendEvent(event, opts);
      track(sending);
      return sending;
    },
    /** Resolves when every scheduled callback has been delivered (or given up on). */
    async settled() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    async stop() {
      stopping.abort();
      for (const [timer, resolve] of timers) {
        clearTimeout(timer);
        resolve(undefined);
      }
      timers.clear();
      for (const res of hanging) res.destroy();
      const closed = new Promise((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res, status, contentType, body) {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) }).end(body);
}

// ---- CLI -------------------------------------------------------------------------------------

async function main() {
  const { values } = parseArgs({
    options: {
      flavour: { type: "string", default: "json" },
      port: { type: "string", default: "9101" },
      secret: { type: "string", default: process.env.WAREHOUSE_SECRET },
      warehouse: { type: "string" },
      callback: { type: "string" },
      latency: { type: "string", default: "0" },
      "failure-rate": { type: "string", default: "0" },
      "timeout-rate": { type: "string", default: "0" },
      "reject-rate": { type: "string", default: "0" },
      "duplicate-rate": { type: "string", default: "0" },
      "out-of-order": { type: "boolean", default: false },
      "no-callback": { type: "boolean", default: false },
      "ship-after": { type: "string", default: "2000" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || !values.secret) {
    console.log(
      "usage: node warehouses/fake-warehouse.mjs --secret whsec_... [--flavour json|soap] [--port 9101]\n" +
        "         [--warehouse eu-ams --callback http://127.0.0.1:8787] [--latency ms] [--ship-after ms]\n" +
        "         [--failure-rate p] [--timeout-rate p] [--reject-rate p] [--duplicate-rate p] [--out-of-order] [--no-callback]\n" +
        "The secret may also come from WAREHOUSE_SECRET. GET /deliveries lists what was taken.",
    );
    process.exit(values.help ? 0 : 2);
  }
  const warehouse = await startFakeWarehouse({
    port: Number(values.port),
    secret: values.secret,
    flavour: values.flavour,
    warehouseId: values.warehouse,
    callbackUrl: values.callback,
    latencyMs: Number(values.latency),
    failureRate: Number(values["failure-rate"]),
    timeoutRate: Number(values["timeout-rate"]),
    rejectRate: Number(values["reject-rate"]),
    duplicateRate: Number(values["duplicate-rate"]),
    outOfOrder: values["out-of-order"],
    autoCallback: !values["no-callback"],
    shipAfterMs: Number(values["ship-after"]),
  });
  const shutdown = async () => {
    await warehouse.stop();
    console.log(`deliveries taken: ${warehouse.deliveries().length}`);
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
