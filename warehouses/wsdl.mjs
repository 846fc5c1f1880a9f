// WSDL 1.1 documents (document/literal over SOAP 1.1 HTTP, WS-I Basic Profile style) for the two
// SOAP services between us and legacy warehouses: the events a warehouse sends us (served by the
// Worker at /v1/warehouses/{id}/soap?wsdl) and the DispatchOrder call we make to a warehouse
// (served by the Worker at /v1/warehouses/dispatch-order?wsdl and by the fake SOAP warehouse at
// /soap?wsdl). Plain JavaScript so the Worker and the Node-side fake warehouse share one builder.

export const WAREHOUSE_NS = "urn:edge-inventory:warehouse";

const XML_NAME = /^[A-Za-z_][A-Za-z0-9._-]*$/;

/** What we send a warehouse for each confirmed sale line, and what it answers. */
export const DISPATCH_ORDER_SERVICE = {
  name: "WarehouseDispatch",
  documentation: "Implemented by a legacy warehouse: takes one confirmed sale line; dedupe on DeliveryId.",
  operations: [
    {
      name: "DispatchOrder",
      fields: [
        { name: "DeliveryId", type: "string" },
        { name: "Region", type: "string" },
        { name: "Sku", type: "string" },
        { name: "ReservationId", type: "string" },
        { name: "Qty", type: "int" },
        { name: "ConfirmedAt", type: "dateTime" },
      ],
      response: [
        { name: "Accepted", type: "boolean" },
        { name: "Duplicate", type: "boolean", optional: true },
      ],
    },
  ],
};

function escapeAttribute(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
}

function name(text) {
  if (!XML_NAME.test(text)) throw new TypeError(`"${text}" is not a usable XML name`);
  return text;
}

function element(elementName, fields) {
  const children = fields
    .map((f) => `<xs:element name="${name(f.name)}" type="xs:${f.type}"${f.optional ? ' minOccurs="0"' : ""}/>`)
    .join("");
  return `<xs:element name="${name(elementName)}"><xs:complexType><xs:sequence>${children}</xs:sequence></xs:complexType></xs:element>`;
}

/**
 * A WSDL for `service` ({ name, documentation?, operations: [{ name, fields, response }] }, fields
 * being { name, type: an XML Schema type, optional? }) whose endpoint is `location`.
 */
export function wsdlDocument(service, location) {
  const svc = name(service.name);
  const ops = service.operations;
  const types = ops.map((op) => element(op.name, op.fields) + element(`${op.name}Response`, op.response)).join("");
  const messages = ops
    .map(
      (op) =>
        `<wsdl:message name="${op.name}Request"><wsdl:part name="parameters" element="tns:${op.name}"/></wsdl:message>` +
        `<wsdl:message name="${op.name}Response"><wsdl:part name="parameters" element="tns:${op.name}Response"/></wsdl:message>`,
    )
    .join("");
  const portOps = ops
    .map((op) => `<wsdl:operation name="${op.name}"><wsdl:input message="tns:${op.name}Request"/><wsdl:output message="tns:${op.name}Response"/></wsdl:operation>`)
    .join("");
  const bindingOps = ops
    .map(
      (op) =>
        `<wsdl:operation name="${op.name}"><soap:operation soapAction="${WAREHOUSE_NS}#${op.name}" style="document"/>` +
        '<wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>',
    )
    .join("");
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<wsdl:definitions name="${svc}" targetNamespace="${WAREHOUSE_NS}" xmlns:tns="${WAREHOUSE_NS}" ` +
    'xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xs="http://www.w3.org/2001/XMLSchema">' +
    (service.documentation ? `<wsdl:documentation>${escapeAttribute(service.documentation)}</wsdl:documentation>` : "") +
    `<wsdl:types><xs:schema targetNamespace="${WAREHOUSE_NS}" elementFormDefault="qualified">${types}</xs:schema></wsdl:types>` +
    messages +
    `<wsdl:portType name="${svc}PortType">${portOps}</wsdl:portType>` +
    `<wsdl:binding name="${svc}Binding" type="tns:${svc}PortType"><soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>${bindingOps}</wsdl:binding>` +
    `<wsdl:service name="${svc}Service"><wsdl:port name="${svc}Port" binding="tns:${svc}Binding"><soap:address location="${escapeAttribute(location)}"/></wsdl:port></wsdl:service>` +
    "</wsdl:definitions>"
  );
}
