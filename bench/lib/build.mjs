// Bundles the worker exactly as a deploy would: `wrangler deploy --dry-run --outdir <dir>`. No
// login is needed and nothing is uploaded.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

function nodeForWrangler(projectRoot) {
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major > 22 || (major === 22 && minor >= 12)) return process.execPath;
  // `npm run` puts the project's node@22 first on PATH; a bare `node bench/...` on an older system
  // Node falls back to that same binary.
  const local = join(projectRoot, "node_modules", ".bin", "node");
  if (existsSync(local)) return local;
  throw new Error(`wrangler needs Node >= 22.12 (this is ${process.version}); run through \`npm run\``);
}

export function wranglerVersion() {
  return JSON.parse(readFileSync(require.resolve("wrangler/package.json"), "utf8")).version;
}

/** Returns { dir, main, wranglerVersion, ms }; `main` is the bundled entry module. */
export async function buildWorker({ projectRoot, outdir }) {
  const wranglerBin = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
  const args = [wranglerBin, "deploy", "--dry-run", "--outdir", outdir, "--env", ""];
  const t0 = performance.now();
  const output = await new Promise((resolve, reject) => {
    const child = spawn(nodeForWrangler(projectRoot), args, {
      cwd: projectRoot,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let text = "";
    child.stdout.on("data", (d) => (text += d));
    child.stderr.on("data", (d) => (text += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`wrangler build failed (exit ${code}):\n${text}`))));
  });
  const main = join(outdir, "index.js");
  if (!existsSync(main)) throw new Error(`wrangler reported success but ${main} is missing:\n${output}`);
  return { dir: outdir, main, wranglerVersion: wranglerVersion(), ms: performance.now() - t0 };
}
