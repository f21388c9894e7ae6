/**
 * How the embedded database tells damage apart from an empty folder, and what it says
 * about it. PGlite starts a new, empty database in a folder without one, so a folder
 * that holds files but not a complete database must be refused before PGlite sees it:
 * otherwise every recorded run is gone without a word.
 */
import fs from "node:fs";
import path from "node:path";
import { DatabaseConnectionError } from "../errors.js";

/** What a complete Postgres data folder has, which PGlite would otherwise create anew. */
const REQUIRED = ["PG_VERSION", path.join("global", "pg_control"), "base"];

const WHAT_TO_DO =
  "Nothing was changed or overwritten. Stop every process using it, keep a copy of the folder as it is, and restore " +
  "the folder from a backup (a copy, or a file from `stepwise dump` with `stepwise restore`); `stepwise doctor` " +
  "reports which tables can still be read.";

/** Throws when `pgdata` has files but is not a complete database; an absent or empty folder is a new database. */
export function refuseIncompleteDataFolder(dir: string, pgdata: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(pgdata);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (entries.length === 0) return;
  const missing = REQUIRED.filter((entry) => !fs.existsSync(path.join(pgdata, entry)));
  if (missing.length === 0) return;
  throw new DatabaseConnectionError(
    `The embedded database in ${dir} is incomplete: ${pgdata} has files but no ${missing.join(", ")}, so it is not a ` +
      `database that can be opened, and opening it would start an empty one over it. ${WHAT_TO_DO}`,
  );
}

/** The error for a data folder PGlite could not start on (a damaged pg_control or WAL aborts it). */
export function damagedOnOpen(dir: string, cause: unknown): DatabaseConnectionError {
  const message = (cause as Error)?.message ?? String(cause);
  return new DatabaseConnectionError(
    `The embedded database in ${dir} is damaged and cannot be opened (PGlite: ${message.replace(/ Build with -sASSERTIONS.*$/, "")}). ${WHAT_TO_DO}`,
    { cause },
  );
}

/**
 * Whether a failed statement means damaged files, not a bad statement: SQLSTATE class
 * XX (data_corrupted, index_corrupted) and 58 (I/O errors, a file missing).
 */
export function isDamage(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("XX0") || code.startsWith("58"));
}

/** The error for a statement that hit damaged files. */
export function damagedOnRead(dir: string, cause: unknown): DatabaseConnectionError {
  const { message, code } = cause as { message?: string; code?: string };
  return new DatabaseConnectionError(
    `The embedded database in ${dir} is damaged: ${message} (${code}). ${WHAT_TO_DO}`,
    { cause },
  );
}
