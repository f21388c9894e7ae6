import fs from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { DatabaseConnectionError } from "../errors.js";
import type { Queryable, QueryResult, SqlDriver } from "./driver.js";

/**
 * PGlite serves one process at a time. A lock file holding the owner's PID turns a
 * second process into a clear error instead of a corrupted database. A lock left by
 * a process that no longer exists (it was killed) is taken over.
 */
function acquireLock(lockPath: string): () => void {
  for (let tries = 0; tries < 3; tries++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: "wx" });
      return () => {
        try {
          if (fs.readFileSync(lockPath, "utf8") === String(process.pid)) fs.unlinkSync(lockPath);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number.parseInt(fs.readFileSync(lockPath, "utf8"), 10);
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw new DatabaseConnectionError(
          `The embedded database in ${path.dirname(lockPath)} is in use by process ${owner}. ` +
            `The embedded database (PGlite) serves one process at a time: stop that process, ` +
            `or point every process at one Postgres server with STEPWISE_DATABASE_URL.`,
        );
      }
      if (owner === process.pid) {
        throw new DatabaseConnectionError(
          `The embedded database in ${path.dirname(lockPath)} is already open in this process; ` +
            `call Stepwise.shutdown() before launching again.`,
        );
      }
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new DatabaseConnectionError(`Cannot take the lock ${lockPath}; remove it if no process uses the database.`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

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
    release = acquireLock(path.join(dir, "stepwise.lock"));
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
