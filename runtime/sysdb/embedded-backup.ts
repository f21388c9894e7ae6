/**
 * Backing up and restoring the embedded database: a dump is PGlite's own archive of
 * the data folder (a gzipped tar), taken while this process holds the folder's lock,
 * so no process writes to it meanwhile. A restore loads it into an empty folder only:
 * it never overwrites a database.
 */
import fs from "node:fs";
import path from "node:path";
import { DatabaseConnectionError } from "../errors.js";
import { openEmbedded } from "./pglite.js";

/** Writes a dump of the embedded database in `dataDir` to `file`; returns its size in bytes. */
export async function dumpEmbedded(dataDir: string, file: string): Promise<number> {
  if (!fs.existsSync(path.join(dataDir, "pgdata"))) {
    throw new DatabaseConnectionError(`There is no embedded database in ${path.resolve(dataDir)} to dump.`);
  }
  const { db, close } = await openEmbedded(dataDir);
  try {
    // Everything in the WAL goes into the table files first, so the archive is a
    // database that opens as it is.
    await db.query("CHECKPOINT");
    const archive = Buffer.from(await (await db.dumpDataDir("gzip")).arrayBuffer());
    // Written beside the target and renamed, so a crash never leaves half a dump under its name.
    const partial = `${file}.partial`;
    fs.writeFileSync(partial, archive);
    fs.renameSync(partial, file);
    return archive.length;
  } finally {
    await close();
  }
}

/** Loads a dump into `dataDir`, which must hold no database yet. */
export async function restoreEmbedded(file: string, dataDir: string): Promise<void> {
  const pgdata = path.join(dataDir, "pgdata");
  if (fs.existsSync(pgdata) && fs.readdirSync(pgdata).length > 0) {
    throw new DatabaseConnectionError(
      `${path.resolve(dataDir)} already holds an embedded database; a restore never overwrites one. ` +
        `Move that folder aside (keep it until the restored one is checked), or restore into another --data-dir.`,
    );
  }
  const archive = fs.readFileSync(file);
  const { db, close } = await openEmbedded(dataDir, { loadDataDir: new Blob([archive]) });
  try {
    // A dump of something else, or a damaged one, fails here rather than at the next launch.
    await db.query("SELECT count(*) FROM stepwise.workflow_status");
  } catch (cause) {
    throw new DatabaseConnectionError(`${file} did not restore to a Stepwise database: ${(cause as Error).message}`, { cause });
  } finally {
    await close();
  }
}
