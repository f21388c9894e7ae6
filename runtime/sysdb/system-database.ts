/**
 * Every statement the runtime sends to its system database, written once for both
 * drivers. The hot path is deliberately small: a fresh run writes its status row once at
 * start and once at the end, and each step is one INSERT; nothing is read before a step.
 */
import { SchemaVersionError } from "../errors.js";
import type { Queryable, SqlDriver } from "./driver.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";

export type WorkflowState = "PENDING" | "SUCCESS" | "ERROR" | "CANCELLED" | "MAX_RECOVERY_ATTEMPTS_EXCEEDED";

export interface WorkflowRow {
  workflowID: string;
  name: string;
  status: WorkflowState;
  inputs: string | null;
  output: string | null;
  error: string | null;
  executorID: string;
  recoveryAttempts: number;
  recoveryError: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface OperationRow {
  workflowID: string;
  functionID: number;
  stepID: string;
  output: string | null;
  error: string | null;
  attempts: number;
  childWorkflowID: string | null;
  startedAt: number;
  completedAt: number;
}

export interface WorkflowFilter {
  status?: WorkflowState;
  name?: string;
  /** Created at or after, epoch ms. */
  startTime?: number;
  /** Created before, epoch ms. */
  endTime?: number;
  limit?: number;
  offset?: number;
  /** Newest first unless false. */
  sortDesc?: boolean;
}

const WORKFLOW_COLUMNS = `workflow_id, name, status, inputs, output, error, executor_id,
  recovery_attempts, recovery_error, created_at, updated_at`;
const OPERATION_COLUMNS = `workflow_id, function_id, step_id, output, error, attempts,
  child_workflow_id, started_at, completed_at`;

// pg returns bigint columns as strings; PGlite as numbers.
const toWorkflow = (r: Record<string, unknown>): WorkflowRow => ({
  workflowID: r.workflow_id as string,
  name: r.name as string,
  status: r.status as WorkflowState,
  inputs: r.inputs as string | null,
  output: r.output as string | null,
  error: r.error as string | null,
  executorID: r.executor_id as string,
  recoveryAttempts: Number(r.recovery_attempts),
  recoveryError: r.recovery_error as string | null,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const toOperation = (r: Record<string, unknown>): OperationRow => ({
  workflowID: r.workflow_id as string,
  functionID: Number(r.function_id),
  stepID: r.step_id as string,
  output: r.output as string | null,
  error: r.error as string | null,
  attempts: Number(r.attempts),
  childWorkflowID: r.child_workflow_id as string | null,
  startedAt: Number(r.started_at),
  completedAt: Number(r.completed_at),
});

/** Any advisory-lock key works as long as it is fixed: it serialises concurrent migrations. */
const MIGRATION_LOCK_KEY = 0x5754_7769;

export class SystemDatabase {
  constructor(readonly driver: SqlDriver) {}

  get description(): string {
    return this.driver.description;
  }

  /** Brings schema `stepwise` up to this code's version; refuses a newer schema. */
  async migrate(): Promise<void> {
    await this.driver.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      await tx.query(`CREATE SCHEMA IF NOT EXISTS stepwise`);
      await tx.query(
        `CREATE TABLE IF NOT EXISTS stepwise.schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`,
      );
      const current = await currentVersion(tx);
      if (current > SCHEMA_VERSION) throw new SchemaVersionError(current, SCHEMA_VERSION);
      for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
        for (const statement of MIGRATIONS[version - 1]!) await tx.query(statement);
        await tx.query(`INSERT INTO stepwise.schema_migrations (version, applied_at) VALUES ($1, $2)`, [
          version,
          Date.now(),
        ]);
      }
    });
  }

  async schemaVersion(): Promise<number> {
    return currentVersion(this.driver);
  }

  /**
   * Records a new PENDING run, or returns the run already recorded under this ID
   * (a workflow ID is an idempotency key). One round trip when the ID is new.
   */
  async insertWorkflow(
    row: Pick<WorkflowRow, "workflowID" | "name" | "inputs" | "executorID">,
  ): Promise<{ created: true } | { created: false; existing: WorkflowRow }> {
    const now = Date.now();
    const inserted = await this.driver.query(
      `INSERT INTO stepwise.workflow_status (workflow_id, name, status, inputs, executor_id, created_at, updated_at)
       VALUES ($1, $2, 'PENDING', $3, $4, $5, $5)
       ON CONFLICT (workflow_id) DO NOTHING`,
      [row.workflowID, row.name, row.inputs, row.executorID, now],
      "stepwise_insert_workflow",
    );
    if (inserted.rowCount === 1) return { created: true };
    const existing = await this.getWorkflow(row.workflowID);
    if (!existing) throw new Error(`Workflow '${row.workflowID}' vanished while it was being started`);
    return { created: false, existing };
  }

  /** Ends a PENDING run; a run that is no longer PENDING (cancelled, say) is left as it is. */
  async completeWorkflow(
    workflowID: string,
    status: "SUCCESS" | "ERROR",
    output: string | null,
    error: string | null,
  ): Promise<boolean> {
    const result = await this.driver.query(
      `UPDATE stepwise.workflow_status SET status = $2, output = $3, error = $4, recovery_error = NULL, updated_at = $5
       WHERE workflow_id = $1 AND status = 'PENDING'`,
      [workflowID, status, output, error, Date.now()],
      "stepwise_complete_workflow",
    );
    return result.rowCount === 1;
  }

  /**
   * Records a completed operation. Returns null when this call wrote it, or the row that
   * was already there (another executor got there first): the caller adopts that one.
   */
  recordOperation(op: OperationRow): Promise<OperationRow | null> {
    return this.recordOperationIn(this.driver, op);
  }

  /** recordOperation on a given connection: inside a transaction, it commits with it. */
  async recordOperationIn(db: Queryable, op: OperationRow): Promise<OperationRow | null> {
    const inserted = await db.query(
      `INSERT INTO stepwise.operation_outputs (${OPERATION_COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (workflow_id, function_id) DO NOTHING`,
      [
        op.workflowID,
        op.functionID,
        op.stepID,
        op.output,
        op.error,
        op.attempts,
        op.childWorkflowID,
        op.startedAt,
        op.completedAt,
      ],
      "stepwise_record_operation",
    );
    if (inserted.rowCount === 1) return null;
    const recorded = await db.query(
      `SELECT ${OPERATION_COLUMNS} FROM stepwise.operation_outputs WHERE workflow_id = $1 AND function_id = $2`,
      [op.workflowID, op.functionID],
    );
    return recorded.rows[0] ? toOperation(recorded.rows[0]) : null;
  }

  /** Every recorded operation of a run, in one query, for a replay. */
  async loadOperations(workflowID: string): Promise<OperationRow[]> {
    const result = await this.driver.query(
      `SELECT ${OPERATION_COLUMNS} FROM stepwise.operation_outputs WHERE workflow_id = $1 ORDER BY function_id`,
      [workflowID],
    );
    return result.rows.map(toOperation);
  }

  async getWorkflow(workflowID: string): Promise<WorkflowRow | null> {
    const result = await this.driver.query(
      `SELECT ${WORKFLOW_COLUMNS} FROM stepwise.workflow_status WHERE workflow_id = $1`,
      [workflowID],
      "stepwise_get_workflow",
    );
    return result.rows[0] ? toWorkflow(result.rows[0]) : null;
  }

  async pendingWorkflows(executorIDs: readonly string[]): Promise<WorkflowRow[]> {
    const result = await this.driver.query(
      `SELECT ${WORKFLOW_COLUMNS} FROM stepwise.workflow_status
       WHERE status = 'PENDING' AND executor_id = ANY($1::text[]) ORDER BY created_at`,
      [executorIDs],
    );
    return result.rows.map(toWorkflow);
  }

  /** Counts a recovery attempt and makes this executor the run's owner; returns the new count. */
  async claimForRecovery(workflowID: string, executorID: string): Promise<number> {
    const result = await this.driver.query<{ recovery_attempts: number }>(
      `UPDATE stepwise.workflow_status
       SET recovery_attempts = recovery_attempts + 1, executor_id = $2, updated_at = $3
       WHERE workflow_id = $1 AND status = 'PENDING' RETURNING recovery_attempts`,
      [workflowID, executorID, Date.now()],
    );
    return result.rows[0] ? Number(result.rows[0].recovery_attempts) : 0;
  }

  /** Leaves the run PENDING, with the reason it could not go on shown to the user. */
  async setRecoveryError(workflowID: string, message: string | null): Promise<void> {
    await this.driver.query(
      `UPDATE stepwise.workflow_status SET recovery_error = $2, updated_at = $3 WHERE workflow_id = $1`,
      [workflowID, message, Date.now()],
    );
  }

  async setStatus(workflowID: string, status: WorkflowState, from?: WorkflowState): Promise<boolean> {
    const result = await this.driver.query(
      `UPDATE stepwise.workflow_status SET status = $2, updated_at = $3
       WHERE workflow_id = $1 ${from ? "AND status = $4" : ""}`,
      from ? [workflowID, status, Date.now(), from] : [workflowID, status, Date.now()],
    );
    return result.rowCount === 1;
  }

  async listWorkflows(filter: WorkflowFilter = {}): Promise<WorkflowRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace("?", `$${params.length}`));
    };
    if (filter.status) add("status = ?", filter.status);
    if (filter.name) add("name = ?", filter.name);
    if (filter.startTime !== undefined) add("created_at >= ?", filter.startTime);
    if (filter.endTime !== undefined) add("created_at < ?", filter.endTime);
    params.push(filter.limit ?? 100, filter.offset ?? 0);
    const result = await this.driver.query(
      `SELECT ${WORKFLOW_COLUMNS} FROM stepwise.workflow_status
       ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY created_at ${filter.sortDesc === false ? "ASC" : "DESC"}, workflow_id
       LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
    return result.rows.map(toWorkflow);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}

async function currentVersion(db: Queryable): Promise<number> {
  const exists = await db.query<{ present: boolean }>(
    `SELECT to_regclass('stepwise.schema_migrations') IS NOT NULL AS present`,
  );
  if (!exists.rows[0]?.present) return 0;
  const result = await db.query<{ version: number | null }>(`SELECT max(version) AS version FROM stepwise.schema_migrations`);
  return Number(result.rows[0]?.version ?? 0);
}
