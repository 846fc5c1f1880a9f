// npm run recs:synth -- --database URL [--region synth] [--skus 10000] [--shoppers 1000000] [--lines 20000000]
// A synthetic order history for measuring the offline build (scripts/recs-offline-build.ts): a
// catalogue of --skus SKUs in clusters of 50 (a routine: cleanser, serum, cream of one line), and
// confirmed baskets of 1-7 lines, 80 % from one cluster, 20 % from the whole catalogue, both skewed
// towards best-sellers. Two in three baskets belong to one of --shoppers consenting shoppers
// (pseudonym-shaped ids). Generated inside Postgres (generate_series), in chunks with progress.
// Writes only to the region you name (default `synth`); --drop removes that region's rows first.
import { parseArgs } from "node:util";
import pg from "pg";
import { migrateDatabase } from "./db-migrate.mjs";
import { progressBar } from "./progress.mjs";

const { values } = parseArgs({
  options: {
    database: { type: "string", default: process.env.DATABASE_URL },
    region: { type: "string", default: "synth" },
    skus: { type: "string", default: "10000" },
    shoppers: { type: "string", default: "1000000" },
    lines: { type: "string", default: "20000000" },
    drop: { type: "boolean", default: false },
  },
});
const skus = Number(values.skus);
const shoppers = Number(values.shoppers);
const lines = Number(values.lines);
if (!values.database || ![skus, shoppers, lines].every((x) => Number.isInteger(x) && x > 0) || skus < 50 || !/^[a-z]{2,12}$/.test(values.region!)) {
  console.error("usage: npm run recs:synth -- --database URL [--region synth] [--skus >= 50] [--shoppers N] [--lines N] [--drop]");
  process.exit(2);
}
const region = values.region!;
const started = Date.now();
await migrateDatabase(values.database);
const db = new pg.Client({ connectionString: values.database });
await db.connect();
try {
  if (values.drop) {
    for (const table of ["catalog_items", "reservation_ledger", "shopper_orders"]) await db.query(`DELETE FROM ${table} WHERE region = $1`, [region]);
  }
  await db.query(
    `INSERT INTO catalog_items (region, sku, name, brand, category, names, prices)
     SELECT $1, 'SKU-' || lpad(k::text, 6, '0'), 'Product ' || k, 'Brand ' || (k % 97), 'category-' || (k / 50),
            jsonb_build_object('fr', 'Produit ' || k, 'de', 'Produkt ' || k),
            jsonb_build_object('FR', jsonb_build_object('amount', 1000 + k % 9000, 'currency', 'EUR'), 'GB', jsonb_build_object('amount', 900 + k % 8000, 'currency', 'GBP'))
     FROM generate_series(0, $2 - 1) k
     ON CONFLICT DO NOTHING`,
    [region, skus],
  );
  // About 4 distinct lines per basket (1-7, minus repeats).
  const baskets = Math.ceil(lines / 3.9);
  const chunk = 250_000;
  const bar = progressBar("baskets");
  for (let from = 0; from < baskets; from += chunk) {
    const to = Math.min(baskets, from + chunk) - 1;
    await db.query(
      `WITH b AS (
         SELECT n, 1 + floor(random() * 7)::int AS size, floor(power(random(), 1.5) * ($2::int / 50))::int AS cluster
         FROM generate_series($3::int, $4::int) n
       )
       INSERT INTO reservation_ledger (region, reservation_id, sku, qty, status, held_at, expires_at, confirmed_at, last_seq)
       SELECT $1, 's' || lpad(b.n::text, 9, '0'), 'SKU-' || lpad(item.k::text, 6, '0'), 1, 'confirmed', now(), now(), now(), 1
       FROM b, LATERAL (
         SELECT CASE WHEN random() < 0.8 THEN b.cluster * 50 + floor(50 * power(random(), 2))::int
                     ELSE floor($2::int * power(random(), 3))::int END AS k
         FROM generate_series(1, b.size) WHERE b.n >= 0
       ) item
       ON CONFLICT DO NOTHING`,
      [region, skus, from, to],
    );
    await db.query(
      `INSERT INTO shopper_orders (region, reservation_id, shopper)
       SELECT $1, 's' || lpad(n::text, 9, '0'), md5('shopper-' || floor(random() * $2::int))
       FROM generate_series($3::int, $4::int) n WHERE random() < 0.667
       ON CONFLICT DO NOTHING`,
      [region, shoppers, from, to],
    );
    bar.update(to + 1, baskets);
  }
  bar.done();
  await db.query("ANALYZE reservation_ledger; ANALYZE shopper_orders; ANALYZE catalog_items");
  const count = async (sql: string) => Number((await db.query(sql, [region])).rows[0].n);
  const summary = {
    skus: await count("SELECT count(*) AS n FROM catalog_items WHERE region = $1"),
    lines: await count("SELECT count(*) AS n FROM reservation_ledger WHERE region = $1"),
    baskets: await count("SELECT count(DISTINCT reservation_id) AS n FROM reservation_ledger WHERE region = $1"),
    shoppers: await count("SELECT count(DISTINCT shopper) AS n FROM shopper_orders WHERE region = $1"),
  };
  const size = (await db.query("SELECT pg_size_pretty(pg_database_size(current_database())) AS s")).rows[0].s;
  console.log(
    [
      `synthetic order history in region ${region}`,
      `  SKUs      : ${summary.skus.toLocaleString("en")}`,
      `  baskets   : ${summary.baskets.toLocaleString("en")}`,
      `  lines     : ${summary.lines.toLocaleString("en")}`,
      `  shoppers  : ${summary.shoppers.toLocaleString("en")} consenting`,
      `  database  : ${size}`,
      `  took      : ${((Date.now() - started) / 1000).toFixed(1)} s`,
    ].join("\n"),
  );
} finally {
  await db.end();
}
