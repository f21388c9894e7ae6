/** The database a command opens: the global --database-url / --data-dir options. */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { printError } from "./terminal.js";

const DEFAULT_DATA_DIR = ".stepwise";

export interface ConnectionOptions {
  databaseUrl?: string;
  dataDir?: string;
}

/** The command's connection options; warns when --database-url carries a password. */
export function connectionOf(command: Command): ConnectionOptions {
  const options = command.optsWithGlobals<ConnectionOptions>();
  if (options.databaseUrl !== undefined && hasPassword(options.databaseUrl)) {
    printError(
      "stepwise: warning: --database-url carries a password, which any user of this machine can read in the " +
        "process list (ps) and which your shell history keeps. Set STEPWISE_DATABASE_URL in the environment instead " +
        "(or use a password file: PGPASSFILE).",
    );
  }
  return { databaseUrl: options.databaseUrl, dataDir: options.dataDir };
}

function hasPassword(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.password !== "" || parsed.searchParams.has("password");
  } catch {
    // Not a URL (refused at launch); a colon before an @ may still be a password.
    return /:[^@/]*@/.test(url);
  }
}

/**
 * The connection options of a command that reads or manages runs: on the embedded
 * database, its folder must hold one. Launching on an empty folder would create a new,
 * empty database (tens of MB) and report "no runs", hiding a wrong --data-dir or
 * working directory.
 */
export function existingDatabaseOf(command: Command): ConnectionOptions {
  const options = connectionOf(command);
  if (options.databaseUrl || process.env.STEPWISE_DATABASE_URL) return options;
  const dataDir = options.dataDir ?? (process.env.STEPWISE_DATA_DIR || DEFAULT_DATA_DIR);
  if (dataDir !== "memory://" && !existsSync(join(dataDir, "pgdata"))) {
    throw new Error(
      `no embedded database in ${resolve(dataDir)}: nothing was created. Run the command from your application's ` +
        `folder, pass --data-dir <folder of the embedded database>, or set STEPWISE_DATABASE_URL for Postgres.`,
    );
  }
  return { ...options, dataDir };
}
