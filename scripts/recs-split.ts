// npm run recs:split -- [--from ../shared/data/groceries/baskets.csv] [--out data] [--hold-out-every 5]
// Splits a basket file into groceries-train.csv and groceries-test.csv, deterministically: every
// n-th basket (line) goes to test, unchanged. The committed data/groceries-{train,test}.csv were
// made with the defaults, so `npm run recs:eval -- --train ... --test ...` runs from a fresh clone.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { holdOut } from "../recommendations/evaluate";

const { values } = parseArgs({
  options: {
    from: { type: "string", default: "../shared/data/groceries/baskets.csv" },
    out: { type: "string", default: "data" },
    "hold-out-every": { type: "string", default: "5" },
  },
});
const every = Number(values["hold-out-every"]);
if (!Number.isInteger(every) || every < 2) {
  console.error("--hold-out-every must be a whole number of at least 2");
  process.exit(2);
}
const lines = readFileSync(values.from!, "utf8").split(/\r?\n/).filter((l) => l.trim());
const { train, test } = holdOut(lines, every);
for (const [name, rows] of [["groceries-train.csv", train], ["groceries-test.csv", test]] as const) {
  writeFileSync(join(values.out!, name), `${rows.join("\n")}\n`);
  console.log(`✓ ${join(values.out!, name)}: ${rows.length} baskets`);
}
console.log(`split ${lines.length} baskets of ${values.from}: every ${every}th to test`);
