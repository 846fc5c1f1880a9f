// Types for wsdl.mjs, so the Worker's TypeScript can import it.
export interface WsdlField {
  name: string;
  /** An XML Schema built-in type name without the xs: prefix: string, int, boolean, dateTime. */
  type: string;
  optional?: boolean;
}
export interface WsdlOperation {
  name: string;
  fields: WsdlField[];
  response: WsdlField[];
}
export interface WsdlService {
  name: string;
  documentation?: string;
  operations: WsdlOperation[];
}
export declare const WAREHOUSE_NS: string;
export declare const DISPATCH_ORDER_SERVICE: WsdlService;
export declare function wsdlDocument(service: WsdlService, location: string): string;
