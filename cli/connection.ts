/** The database a command opens: the global --database-url / --data-dir options. */
import type { Command } from "commander";
import { printError } from "./terminal.js";

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
