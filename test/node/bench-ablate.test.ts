// `npm run bench:ablate` measures where a personalised recommendation's time goes by taking steps
// out of the code at HEAD (bench/ablate.mjs). Its edits are exact texts of serve.ts and the route:
// when that code moves on, the tool must stop and say which edit to update, never measure a variant
// that silently left something in. Checked here against the tree as it is.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyEdits, VARIANTS } from "../../bench/ablate.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A scratch copy of the files the variants edit. */
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "ablate-test-"));
  dirs.push(dir);
  for (const file of new Set(VARIANTS.flatMap((v) => v.edits.map((e) => e.file)))) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(dir, file));
  }
  return dir;
}

describe("bench:ablate", () => {
  it.each(VARIANTS.map((v) => [v.id, v] as const))("variant %s applies to the code as it is, and changes what it says", (_, variant) => {
    const dir = scratch();
    const before = new Map(variant.edits.map((e) => [e.file, readFileSync(join(dir, e.file), "utf8")]));
    applyEdits(dir, variant.edits);
    for (const edit of variant.edits) {
      const after = readFileSync(join(dir, edit.file), "utf8");
      expect(after).not.toBe(before.get(edit.file));
      expect(after).toContain(edit.replace);
    }
  });

  it("stops, naming the file and the text, when the code has moved on", () => {
    const dir = scratch();
    const file = "recommendations/serve.ts";
    writeFileSync(join(dir, file), readFileSync(join(dir, file), "utf8").replace("const text = answerText(chosen);", "const text = answerText(chosen, 1);"));
    const edits = VARIANTS.find((v) => v.id === "no-text")!.edits;
    expect(() => applyEdits(dir, edits)).toThrow(/recommendations\/serve\.ts: the text to edit is not there \(the code moved on: update bench\/ablate\.mjs\)/);
  });

  it("stops when the text is there twice (an edit must land in one place)", () => {
    const dir = scratch();
    const file = "workers/routes/recommendations.ts";
    const text = readFileSync(join(dir, file), "utf8");
    writeFileSync(join(dir, file), text + "\n" + "  const budget = availabilityBudget();\n  try {\n");
    expect(() => applyEdits(dir, VARIANTS.find((v) => v.id === "nothing")!.edits)).toThrow(/there more than once/);
  });
});
