import fs from "node:fs";
import path from "node:path";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";
import { DatabaseConnectionError } from "../errors.js";
import { acquireDirectoryLock } from "./file-lock.js";
import { damagedOnOpen, damagedOnRead, isDamage, refuseIncompleteDataFolder } from "./embedded-damage.js";
import type { Queryable, QueryResult, SqlDriver } from "./driver.js";

function wrap(db: Pick<PGlite, "query">, dir: string): Queryable {
  return {
    async query<R>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
      try {
        const result = await db.query<R>(text, params);
        return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
      } catch (error) {
        // A truncated or corrupt file: say so, and where, rather than "could not read blocks".
        throw isDamage(error) ? damagedOnRead(dir, error) : error;
      }
    },
  };
}

/**
 * Opens PGlite on the data folder in `dataDir`, holding its lock: refuses a folder
 * that is not a complete database, and names damage as such. `options` go to PGlite
 * (a dump to load into an empty folder). Returns the instance and what releases it.
 */
export async function openEmbedded(dataDir: string, options: PGliteOptions = {}): Promise<{ db: PGlite; dir: string; close(): Promise<void> }> {
  const dir = path.resolve(dataDir);
  fs.mkdirSync(dir, { recursive: true });
  // PGlite serves one process at a time: a second one gets a clear error, not a corrupted database.
  const release = acquireDirectoryLock(dir);
  const pgdata = path.join(dir, "pgdata");
  let db: PGlite;
  try {
    refuseIncompleteDataFolder(dir, pgdata);
    db = await PGlite.create(pgdata, options);
  } catch (cause) {
    release();
    if (cause instanceof DatabaseConnectionError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM" || code === "ENOSPC" || code === "EROFS") {
      throw new DatabaseConnectionError(`Cannot open the embedded database in ${dir}: ${(cause as Error).message}`, { cause });
    }
    throw damagedOnOpen(dir, cause);
  }
  return {
    db,
    dir,
    async close() {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}

/**
 * The embedded database: PGlite persisted in `dataDir` (or in memory for "memory://").
 * It survives a process crash, not a power loss (PGlite does not fsync).
 */
export async function openPGlite(dataDir: string): Promise<SqlDriver> {
  const inMemory = dataDir === "memory://";
  const opened = inMemory ? { db: await PGlite.create(), dir: "memory", close: async () => {} } : await openEmbedded(dataDir);
  const { db, dir } = opened;
  const queryable = wrap(db, dir);
  return {
    kind: "pglite",
    description: inMemory ? "embedded database in memory" : `embedded database in ${dir}`,
    query: queryable.query,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx, dir))),
    async listen(channel, onPayload) {
      await db.listen(channel, onPayload);
    },
    close: inMemory ? () => db.close() : opened.close,
  };
}
