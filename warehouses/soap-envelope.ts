// SOAP 1.1 envelopes as legacy warehouses speak them: one operation element in the warehouse
// namespace, whose children are plain text fields. Writing and reading both live here so the
// outbound adapter and the inbound endpoint agree on every detail (namespaces, escaping, faults).
import { XMLParser, XMLValidator } from "fast-xml-parser";

export const SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/";
export const WAREHOUSE_NS = "urn:edge-inventory:warehouse";
const SOAP_ACTOR_NEXT = "http://schemas.xmlsoap.org/soap/actor/next";
export const SOAP_CONTENT_TYPE = "text/xml; charset=utf-8";
/** Inbound envelopes are a handful of fields; anything this big is not one. */
export const MAX_SOAP_CHARS = 256 * 1024;

/** SOAP 1.1 fault codes (section 4.4.1): what went wrong, and so whether sending again can help. */
export type SoapFaultCode = "Client" | "Server" | "VersionMismatch" | "MustUnderstand";
/** Why an envelope was refused: a reason, and the fault code when it is not plain Client. */
export type SoapRefusal = { ok: false; reason: string; fault?: "VersionMismatch" | "MustUnderstand" };
export type SoapFields = Record<string, string | number | boolean | null | undefined>;

/** A read envelope: either one operation with its text fields, or a SOAP Fault. */
export type SoapMessage =
  /** `headers`: the text of each understood header block, by `{namespace}local`. */
  | { kind: "operation"; name: string; namespace: string | undefined; fields: Record<string, string>; headers: Record<string, string> }
  | { kind: "fault"; code: string; message: string };

const XML_NAME = /^[A-Za-z_][A-Za-z0-9._-]*$/;

/** The SOAPAction header value (quoted, as SOAP 1.1 asks) for an operation of the warehouse service. */
export function soapAction(operation: string): string {
  return `"${WAREHOUSE_NS}#${operation}"`;
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** The header block that carries a W3C traceparent (ours out, and understood in): `{urn:edge-inventory:warehouse}Traceparent`. */
export const TRACEPARENT_HEADER = "Traceparent";
export const TRACEPARENT_BLOCK = `{${WAREHOUSE_NS}}${TRACEPARENT_HEADER}`;

/**
 * An envelope whose body is `<operation xmlns="urn:edge-inventory:warehouse">` with one element per
 * field; `traceparent`: a Traceparent header block (not mustUnderstand: a stack that does not know
 * it may ignore it).
 */
export function soapEnvelope(operation: string, fields: SoapFields, traceparent?: string): string {
  assertXmlName(operation);
  const children = Object.entries(fields)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([name, value]) => {
      assertXmlName(name);
      return `<${name}>${escapeXml(String(value))}</${name}>`;
    })
    .join("");
  const header = traceparent ? `<${TRACEPARENT_HEADER} xmlns="${WAREHOUSE_NS}">${escapeXml(traceparent)}</${TRACEPARENT_HEADER}>` : "";
  return envelope(`<${operation} xmlns="${WAREHOUSE_NS}">${children}</${operation}>`, header);
}

/** A SOAP 1.1 Fault envelope; send it with HTTP 500, as SOAP 1.1 section 6.2 and WS-I BP R1126 ask. */
export function soapFaultEnvelope(code: SoapFaultCode, message: string): string {
  return envelope(
    `<soap:Fault><faultcode>soap:${code}</faultcode><faultstring>${escapeXml(message)}</faultstring></soap:Fault>`,
  );
}

function envelope(body: string, header = ""): string {
  const head = header ? `<soap:Header>${header}</soap:Header>` : "";
  return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${SOAP_ENVELOPE_NS}">${head}<soap:Body>${body}</soap:Body></soap:Envelope>`;
}

function assertXmlName(name: string): void {
  if (!XML_NAME.test(name)) throw new TypeError(`"${name}" is not a usable XML element name`);
}

// ---- reading ----------------------------------------------------------------------------------

type XmlNode = string | { [key: string]: XmlNode[] | string };
type Namespaces = ReadonlyMap<string, string>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  // Decodes numeric character references (&#65;) besides the five XML entities.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
});

/**
 * Reads a SOAP 1.1 envelope. `understood`: the qualified names (`{namespace}local`) of the header
 * blocks the caller processes; any other block marked mustUnderstand="1" refuses the envelope with
 * a MustUnderstand fault, as SOAP 1.1 section 4.2.3 asks. Another envelope namespace (SOAP 1.2,
 * say) is a VersionMismatch.
 */
export function readSoapEnvelope(xml: string, understood: ReadonlySet<string> = new Set()): { ok: true; message: SoapMessage } | SoapRefusal {
  if (xml.length > MAX_SOAP_CHARS) return fail(`the envelope is larger than ${MAX_SOAP_CHARS} characters`);
  // A DTD is how XXE and entity-expansion attacks get in; SOAP 1.1 forbids one anyway.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return fail("DOCTYPE and ENTITY declarations are not allowed");
  const valid = XMLValidator.validate(xml);
  if (valid !== true) return fail(`malformed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);

  let document: Record<string, XmlNode[]>;
  try {
    document = parser.parse(xml) as Record<string, XmlNode[]>;
  } catch (err) {
    return fail(`malformed XML: ${(err as Error).message}`);
  }
  const roots = elementChildren(document);
  if (roots.length !== 1) return fail("the document must have exactly one root element");
  const [root] = roots as [Child];
  const rootScope = scopeOf(root.node, new Map());
  const rootName = resolve(root.name, rootScope);
  if (rootName.local === "Envelope" && rootName.namespace !== SOAP_ENVELOPE_NS) {
    return {
      ok: false,
      fault: "VersionMismatch",
      reason: `the Envelope is in ${rootName.namespace ?? "no namespace"}; this service speaks SOAP 1.1 Envelope (${SOAP_ENVELOPE_NS}) only`,
    };
  }
  if (rootName.local !== "Envelope") return fail(`the root element must be a SOAP 1.1 Envelope in ${SOAP_ENVELOPE_NS}`);

  const headers = elementChildren(root.node).filter((c) => isSoap(c.name, scopeOf(c.node, rootScope), "Header"));
  if (headers.length > 1) return fail("the Envelope must have at most one Header");
  const headerTexts: Record<string, string> = Object.create(null);
  for (const header of headers) {
    const headerScope = scopeOf(header.node, rootScope);
    for (const block of elementChildren(header.node)) {
      const scope = scopeOf(block.node, headerScope);
      const blockName = resolve(block.name, scope);
      const qualified = `{${blockName.namespace ?? ""}}${blockName.local}`;
      if (mustUnderstand(block.node, scope) && forUs(block.node, scope) && !understood.has(qualified)) {
        return { ok: false, fault: "MustUnderstand", reason: `header block ${qualified} is marked mustUnderstand and is not understood here` };
      }
      if (understood.has(qualified) && !(qualified in headerTexts)) {
        headerTexts[qualified] = typeof block.node === "string" ? block.node : String(block.node["#text"] ?? "");
      }
    }
  }

  const bodies = elementChildren(root.node).filter((c) => isSoap(c.name, scopeOf(c.node, rootScope), "Body"));
  if (bodies.length !== 1) return fail("the Envelope must have exactly one Body");
  const [body] = bodies as [Child];
  const bodyScope = scopeOf(body.node, rootScope);
  if (hasText(body.node)) return fail("the Body must hold an element, not text");
  const operations = elementChildren(body.node);
  if (operations.length !== 1) return fail(`the Body must hold exactly one operation, found ${operations.length}`);
  const [operation] = operations as [Child];
  const scope = scopeOf(operation.node, bodyScope);
  const name = resolve(operation.name, scope);

  if (name.local === "Fault" && name.namespace === SOAP_ENVELOPE_NS) {
    const fields = textFields(operation.node, { skipNested: true });
    if (!fields.ok) return fields;
    const code = (fields.fields.faultcode ?? "").replace(/^.*:/, "");
    return { ok: true, message: { kind: "fault", code, message: fields.fields.faultstring ?? "" } };
  }
  const fields = textFields(operation.node, { skipNested: false });
  if (!fields.ok) return fail(`in <${name.local}>: ${fields.reason}`);
  return { ok: true, message: { kind: "operation", name: name.local, namespace: name.namespace, fields: fields.fields, headers: headerTexts } };
}

type Child = { name: string; node: XmlNode };

function elementChildren(node: XmlNode): Child[] {
  if (typeof node === "string") return [];
  const children: Child[] = [];
  for (const [name, value] of Object.entries(node)) {
    if (name.startsWith("@_") || name === "#text" || !Array.isArray(value)) continue;
    for (const child of value) children.push({ name, node: child });
  }
  return children;
}

/** SOAP 1.1 4.2.2: a block with an actor other than "next" is for another node, not for us to judge. */
function forUs(node: XmlNode, scope: Namespaces): boolean {
  const actor = soapAttribute(node, scope, "actor");
  return actor === undefined || actor === SOAP_ACTOR_NEXT;
}

function soapAttribute(node: XmlNode, scope: Namespaces, local: string): string | undefined {
  if (typeof node === "string") return undefined;
  for (const [key, value] of Object.entries(node)) {
    if (!key.startsWith("@_") || !key.includes(":") || typeof value !== "string") continue;
    const attribute = resolve(key.slice(2), scope);
    if (attribute.local === local && attribute.namespace === SOAP_ENVELOPE_NS) return value.trim();
  }
  return undefined;
}

/** Whether a header block carries the SOAP 1.1 mustUnderstand attribute set to "1". */
function mustUnderstand(node: XmlNode, scope: Namespaces): boolean {
  // Only a prefixed attribute has a namespace; an unprefixed one is the block's own.
  const value = soapAttribute(node, scope, "mustUnderstand");
  return value === "1" || value === "true";
}

function hasText(node: XmlNode): boolean {
  return typeof node === "string" ? node !== "" : typeof node["#text"] === "string" && node["#text"] !== "";
}

/** Each child element's text, by local name; the fields of an operation are never nested or repeated. */
function textFields(
  node: XmlNode,
  options: { skipNested: boolean },
): { ok: true; fields: Record<string, string> } | { ok: false; reason: string } {
  if (hasText(node)) return fail("text outside the field elements");
  const fields: Record<string, string> = Object.create(null);
  for (const child of elementChildren(node)) {
    const local = child.name.replace(/^.*:/, "");
    if (elementChildren(child.node).length > 0) {
      if (options.skipNested) continue;
      return fail(`<${local}> must hold text, not elements`);
    }
    if (local in fields) return fail(`<${local}> appears more than once`);
    fields[local] = typeof child.node === "string" ? child.node : String(child.node["#text"] ?? "");
  }
  return { ok: true, fields };
}

function scopeOf(node: XmlNode, parent: Namespaces): Namespaces {
  if (typeof node === "string") return parent;
  let scope: Map<string, string> | undefined;
  for (const [key, value] of Object.entries(node)) {
    if (typeof value !== "string") continue;
    const prefix = key === "@_xmlns" ? "" : key.startsWith("@_xmlns:") ? key.slice("@_xmlns:".length) : undefined;
    if (prefix === undefined) continue;
    scope ??= new Map(parent);
    scope.set(prefix, value);
  }
  return scope ?? parent;
}

function resolve(qualified: string, scope: Namespaces): { local: string; namespace: string | undefined } {
  const colon = qualified.indexOf(":");
  const prefix = colon === -1 ? "" : qualified.slice(0, colon);
  return { local: qualified.slice(colon + 1), namespace: scope.get(prefix) || undefined };
}

function isSoap(qualified: string, scope: Namespaces, local: string): boolean {
  const name = resolve(qualified, scope);
  return name.local === local && name.namespace === SOAP_ENVELOPE_NS;
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
