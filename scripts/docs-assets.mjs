// Puts the API reference's browser bundle (Scalar, from node_modules) where Workers static assets
// serve it, so /docs needs no third-party request. Run by wrangler's [build] step (dev, deploy,
// dry-run) and by vitest.config.ts; cheap when the copy is already current.
import { copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DOCS_SCRIPT = join(ROOT, "public", "docs", "scalar-api-reference.js");

export function copyDocsAssets() {
  const main = createRequire(import.meta.url).resolve("@scalar/api-reference"); // .../dist/index.js
  const source = join(dirname(main), "browser", "standalone.js");
  if (existsSync(DOCS_SCRIPT) && statSync(DOCS_SCRIPT).size === statSync(source).size && statSync(DOCS_SCRIPT).mtimeMs >= statSync(source).mtimeMs) return;
  mkdirSync(dirname(DOCS_SCRIPT), { recursive: true });
  copyFileSync(source, DOCS_SCRIPT);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) copyDocsAssets();
