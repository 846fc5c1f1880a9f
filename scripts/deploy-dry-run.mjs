// Builds every region's deploy exactly as `wrangler deploy --env <region>` would, without a
// Cloudflare login: proof that each [env.<region>] in wrangler.toml is complete.
import { spawnSync } from "node:child_process";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const toml = readFileSync(new URL("../wrangler.toml", import.meta.url), "utf8");
const regions = [...toml.matchAll(/^\[env\.([a-z0-9_-]+)\]\s*$/gm)].map((m) => m[1]);
if (regions.length === 0) {
  console.error("wrangler.toml declares no [env.<region>] sections: nothing to deploy");
  process.exit(1);
}
const wrangler = join(process.cwd(), "node_modules", ".bin", "wrangler");
const failed = [];
for (const [i, region] of regions.entries()) {
  process.stdout.write(`dry-run deploy ${i + 1}/${regions.length}: --env ${region} ... `);
  const outdir = mkdtempSync(join(tmpdir(), `deploy-${region}-`));
  const started = Date.now();
  const run = spawnSync(wrangler, ["deploy", "--dry-run", "--env", region, "--outdir", outdir], {
    encoding: "utf8",
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  });
  rmSync(outdir, { recursive: true, force: true });
  const size = /Total Upload: ([^\n]+)/.exec(run.stdout ?? "")?.[1] ?? "?";
  if (run.status === 0) {
    console.log(`ok (${size}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } else {
    console.log("FAILED");
    console.error(run.stdout, run.stderr);
    failed.push(region);
  }
}
if (failed.length) {
  console.error(`dry-run deploy failed for: ${failed.join(", ")}. Fix the matching [env.<region>] in wrangler.toml.`);
  process.exit(1);
}
console.log(`all ${regions.length} regions build: ${regions.join(", ")}`);
