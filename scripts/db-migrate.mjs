// Applies the drizzle-kit migrations in schema/migrations to DATABASE_URL.
//   npm run db:migrate                 (DATABASE_URL from the environment)
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const pg = require("pg");
const { drizzle } = require("drizzle-orm/node-postgres");
const { migrate } = require("drizzle-orm/node-postgres/migrator");

export const MIGRATIONS = fileURLToPath(new URL("../schema/migrations", import.meta.url));

export async function migrateDatabase(url) {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await migrate(drizzle(pool), { migrationsFolder: MIGRATIONS });
  } finally {
    await pool.end();
  }
}

/** Creates a fresh database next to `adminUrl`'s and returns its URL. */
export async function createDatabase(adminUrl, name) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl, name) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export function redact(url) {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("DATABASE_URL is not set. Example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run db:migrate");
    process.exit(2);
  }
  const started = Date.now();
  try {
    await migrateDatabase(url);
    console.log(`migrations applied to ${redact(url)} in ${Date.now() - started} ms`);
  } catch (err) {
    console.error(`migrating ${redact(url)} failed: ${err.message}\nIs Postgres running and the URL right?`);
    process.exit(1);
  }
}
