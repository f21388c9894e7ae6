/**
 * The databases runtime suites run against: always an embedded PGlite database in a
 * fresh folder, and a real Postgres whenever STEPWISE_TEST_DATABASE_URL is set (each
 * suite gets its own freshly created database there, dropped afterwards).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

export interface TestDatabase {
  name: "pglite" | "postgres";
  /** Launch options pointing at a fresh, empty database. */
  create(): Promise<{ databaseUrl?: string; dataDir?: string; cleanup(): Promise<void> }>;
}

export const serverUrl = process.env.STEPWISE_TEST_DATABASE_URL;

export function tempDir(prefix = "stepwise-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const pglite: TestDatabase = {
  name: "pglite",
  async create() {
    const dir = tempDir();
    return { dataDir: dir, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  },
};

const postgres: TestDatabase = {
  name: "postgres",
  async create() {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    const database = `stepwise_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const url = new URL(serverUrl!);
    url.pathname = `/${database}`;
    return {
      databaseUrl: url.toString(),
      async cleanup() {
        const client = new pg.Client({ connectionString: serverUrl });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await client.end();
      },
    };
  },
};

export const databases: TestDatabase[] = serverUrl ? [pglite, postgres] : [pglite];
