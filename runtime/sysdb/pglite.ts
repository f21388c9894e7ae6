import fs from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { DatabaseConnectionError } from "../errors.js";
import { acquireDirectoryLock } from "./file-lock.js";
import type { Queryable, QueryResult, SqlDriver } from "./driver.js";

function wrap(db: Pick<PGlite, "query">): Queryable {
  return {
    async query<R>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
      const result = await db.query<R>(text, params);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
  };
}

/**
 * The embedded database: PGlite persisted in `dataDir` (or in memory for "memory://").
 * It survives a process crash, not a power loss (PGlite does not fsync).
 */
export async function openPGlite(dataDir: string): Promise<SqlDriver> {
  const inMemory = dataDir === "memory://";
  let release = () => {};
  let db: PGlite;
  if (inMemory) {
    db = await PGlite.create();
  } else {
    const dir = path.resolve(dataDir);
    fs.mkdirSync(dir, { recursive: true });
    // PGlite serves one process at a time: a second one gets a clear error, not a corrupted database.
    release = acquireDirectoryLock(dir);
    try {
      db = await PGlite.create(path.join(dir, "pgdata"));
    } catch (cause) {
      release();
      throw new DatabaseConnectionError(`Cannot open the embedded database in ${dir}: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
  const queryable = wrap(db);
  return {
    kind: "pglite",
    description: inMemory ? "embedded database in memory" : `embedded database in ${path.resolve(dataDir)}`,
    query: queryable.query,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    async listen(channel, onPayload) {
      await db.listen(channel, onPayload);
    },
    async close() {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}
