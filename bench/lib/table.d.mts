export declare function renderTable<T>(columns: { header: string; align?: "left" | "right"; value: (row: T) => string | number | null | undefined }[], rows: T[]): string;
export declare const int: (n: number | null | undefined) => string | null;
export declare const ms: (n: number | null | undefined) => string | null;
export declare const pct: (n: number | null | undefined) => string | null;
