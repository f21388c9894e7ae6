/**
 * The application database, when it is not the system database: where `@transaction`
 * functions run. Each committed transaction also writes its output to
 * `stepwise_app.transaction_outputs` inside the user's own transaction, so after a crash
 * between that commit and the checkpoint in the system database, recovery can tell a
 * transaction that committed (adopt its output) from one that never did (run it).
 * The table is created at launch and is not part of the system schema's migrations:
 * it lives in the user's database, next to the user's tables.
 */
import pg from "pg";
import { DatabaseConnectionError } from "../errors.js";
import type { Queryable, SqlDriver } from "./driver.js";
import { adviceFor, checkConnectionString, describeDatabaseUrl, reasonOf } from "./connection.js";
import { openPostgres } from "./pg.js";
import { toOperation, type OperationRow } from "./system-database.js";

/** What the outputs table holds of a committed transaction: its operation row (a transaction starts no child). */
export type TransactionOutputRow = Omit<OperationRow, "childWorkflowID">;

const COLUMNS = `workflow_id, function_id, step_id, output, error, attempts, started_at, completed_at`;

/** Fixed, and distinct from the system schema's: serialises concurrent launches creating the table. */
const SCHEMA_LOCK_KEY = 0x5754_7761;

const toRow = (r: Record<string, unknown>): TransactionOutputRow => {
  const { childWorkflowID: _none, ...row } = toOperation(r);
  return row;
};

export class AppDatabase {
  constructor(readonly driver: SqlDriver) {}

  get description(): string {
    return this.driver.description;
  }

  /** Connects (naming this database, not the system one, when it cannot) and creates the outputs table. */
  static async open(url: string, options: { maxConnections?: number } = {}): Promise<AppDatabase> {
    const setting = "launch option applicationDatabaseUrl";
    checkConnectionString(url, setting);
    const probe = new pg.Client({ connectionString: url });
    // An error after connect (the server went away) must not crash the process.
    probe.on("error", () => {});
    try {
      await probe.connect();
    } catch (cause) {
      throw new DatabaseConnectionError(
        `Cannot connect to the application database (${describeDatabaseUrl(url)}): ${reasonOf(cause)}. ${adviceFor(cause, setting)}`,
        { cause },
      );
    } finally {
      await probe.end().catch(() => {});
    }
    const db = new AppDatabase(await openPostgres(url, { ...options, setting }));
    try {
      await db.ensureSchema();
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
    return db;
  }

  async ensureSchema(): Promise<void> {
    // CREATE SCHEMA needs the CREATE privilege even when the schema exists: a table made
    // beforehand by an administrator is used as it is.
    const exists = await this.driver.query<{ present: boolean }>(
      `SELECT to_regclass('stepwise_app.transaction_outputs') IS NOT NULL AS present`,
    );
    if (exists.rows[0]?.present) return;
    await this.driver.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK_KEY})`);
      await tx.query(`CREATE SCHEMA IF NOT EXISTS stepwise_app`);
      await tx.query(`CREATE TABLE IF NOT EXISTS stepwise_app.transaction_outputs (
        workflow_id   text NOT NULL,
        function_id   integer NOT NULL,
        step_id       text NOT NULL,
        output        text,
        error         text,
        attempts      integer NOT NULL DEFAULT 1,
        started_at    bigint NOT NULL,
        completed_at  bigint NOT NULL,
        PRIMARY KEY (workflow_id, function_id)
      )`);
    });
  }

  /**
   * Records a transaction's outcome on `db` (inside the user's transaction for an output,
   * on its own for an error). Returns false when a row was already there: another
   * executor's transaction committed first, and its outcome is the one that counts.
   */
  async recordIn(db: Queryable, row: TransactionOutputRow): Promise<boolean> {
    const inserted = await db.query(
      `INSERT INTO stepwise_app.transaction_outputs (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (workflow_id, function_id) DO NOTHING`,
      [row.workflowID, row.functionID, row.stepID, row.output, row.error, row.attempts, row.startedAt, row.completedAt],
      "stepwise_app_record_output",
    );
    return inserted.rowCount === 1;
  }

  async get(workflowID: string, functionID: number): Promise<TransactionOutputRow | null> {
    const result = await this.driver.query(
      `SELECT ${COLUMNS} FROM stepwise_app.transaction_outputs WHERE workflow_id = $1 AND function_id = $2`,
      [workflowID, functionID],
      "stepwise_app_get_output",
    );
    return result.rows[0] ? toRow(result.rows[0]) : null;
  }

  /** Forgets the recorded transactions of deleted runs. */
  async deleteOutputs(workflowIDs: readonly string[]): Promise<void> {
    if (workflowIDs.length === 0) return;
    await this.driver.query(`DELETE FROM stepwise_app.transaction_outputs WHERE workflow_id = ANY($1::text[])`, [workflowIDs]);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}

/**
 * Whether two connection strings name the same database (host, port, database, user).
 * When unsure it answers false: the separate-database path is correct for any pair,
 * just one write more per transaction.
 */
export function sameDatabase(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    const key = (url: string) => {
      const u = new URL(url);
      const user = decodeURIComponent(u.username);
      const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || user;
      return [u.hostname.toLowerCase(), u.port || "5432", database, user].join("\0");
    };
    return key(a) === key(b);
  } catch {
    return false;
  }
}
