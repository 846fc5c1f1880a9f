export const DOCS_SCRIPT: string;
export function copyDocsAssets(): void;
