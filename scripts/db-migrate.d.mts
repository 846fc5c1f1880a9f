export declare const MIGRATIONS: string;
export declare function migrateDatabase(url: string): Promise<void>;
export declare function createDatabase(adminUrl: string, name: string): Promise<string>;
export declare function dropDatabase(adminUrl: string, name: string): Promise<void>;
export declare function redact(url: string): string;
