/**
 * `stepwise dump`, `stepwise restore` and `stepwise doctor`: backing up the embedded
 * database, bringing a backup back, and checking that every table can be read.
 */
import type { Command } from "commander";
import { connectionOf, existingDatabaseOf } from "./connection.js";
import { json, table } from "./format.js";
import { print } from "./terminal.js";

const DEFAULT_DATA_DIR = ".stepwise";

function embeddedOnly(command: Command, what: string): string {
  const { databaseUrl, dataDir } = connectionOf(command);
  if (databaseUrl || process.env.STEPWISE_DATABASE_URL) {
    throw new Error(
      `${what} works on the embedded database; for Postgres use its own tools: ` +
        `pg_dump --schema=stepwise --format=custom, and pg_restore.`,
    );
  }
  return dataDir ?? (process.env.STEPWISE_DATA_DIR || DEFAULT_DATA_DIR);
}

export function registerDataCommands(program: Command): void {
  program
    .command("dump <file>")
    .description("back up the embedded database to a file (a gzipped archive); stop the application first")
    .action(async (file: string, _opts, command: Command) => {
      const dataDir = embeddedOnly(command, "stepwise dump");
      const { dumpEmbedded } = await import("../runtime/sysdb/embedded-backup.js");
      const bytes = await dumpEmbedded(dataDir, file);
      print(`dumped the embedded database in ${dataDir} to ${file} (${bytes} bytes)`);
    });

  program
    .command("restore <file>")
    .description("restore a file from `stepwise dump` into --data-dir, which must hold no database")
    .action(async (file: string, _opts, command: Command) => {
      const dataDir = embeddedOnly(command, "stepwise restore");
      const { restoreEmbedded } = await import("../runtime/sysdb/embedded-backup.js");
      await restoreEmbedded(file, dataDir);
      print(`restored ${file} into ${dataDir}`);
    });

  program
    .command("doctor")
    .description("read every table of the system database once and report damage; writes nothing")
    .option("--json", "print JSON")
    .action(async (opts, command: Command) => {
      const { databaseUrl, dataDir } = existingDatabaseOf(command);
      const url = databaseUrl ?? (process.env.STEPWISE_DATABASE_URL || undefined);
      // Loaded here, like the runtime in the other commands: `stepwise --help` stays quick.
      const { checkTables } = await import("../runtime/sysdb/doctor.js");
      const { openPGlite } = await import("../runtime/sysdb/pglite.js");
      const { openPostgres } = await import("../runtime/sysdb/pg.js");
      const driver = url ? await openPostgres(url, { reconnectSeconds: 0 }) : await openPGlite(dataDir ?? (process.env.STEPWISE_DATA_DIR || DEFAULT_DATA_DIR));
      let reports;
      try {
        reports = await checkTables(driver);
      } finally {
        await driver.close();
      }
      const damaged = reports.filter((r) => r.damage !== undefined);
      if (opts.json) print(json({ database: driver.description, tables: reports, damaged: damaged.length }));
      else {
        print(`${driver.description}: ${reports.length} tables read, ${damaged.length} damaged`);
        print(table(reports.map((r) => ({ TABLE: r.table, ROWS: r.rows === undefined ? "" : String(r.rows), STATE: r.damage === undefined ? "ok" : `DAMAGED: ${r.damage}` })), ["TABLE", "ROWS", "STATE"]));
      }
      if (reports.length === 0) throw new Error(`no Stepwise tables in the ${driver.description}: is it the right database?`);
      if (damaged.length > 0) process.exitCode = 1;
    });
}
