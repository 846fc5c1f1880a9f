export declare const BASE: string;
export declare function devVars(): { adminToken: string; storefrontKey: string };
export declare function localRegions(): string[];
export declare function ensureServer(): Promise<void>;
