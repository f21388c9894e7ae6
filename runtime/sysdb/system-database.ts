/**
 * Every statement the runtime sends to its system database, written once for both
 * drivers. The hot path is deliberately small: a fresh run writes its status row once at
 * start and once at the end, and each step is one INSERT; nothing is read before a step.
 */
import { createHash } from "node:crypto";
import { DatabaseConnectionError, QueueDeduplicatedError, SchemaVersionError, ShutdownError } from "../errors.js";
import { tokenLockKey, type ProcessLock } from "../process-lock.js";
import type { Queryable, SqlDriver } from "./driver.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";

export type WorkflowState =
  | "ENQUEUED"
  | "PENDING"
  | "SUCCESS"
  | "ERROR"
  | "CANCELLED"
  | "MAX_RECOVERY_ATTEMPTS_EXCEEDED";

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
  queueName: string | null;
  deduplicationID: string | null;
  priority: number;
  /** When the run left its queue (or started, for a run started directly), epoch ms. */
  startedAt: number | null;
  /** The timeout it was started with, ms; null for none. */
  timeoutMS: number | null;
  /** When it is cancelled if it has not ended, epoch ms: set when it starts executing, or inherited from its parent. */
  deadline: number | null;
  /** Its place in enqueue order (null for runs recorded before schema version 4). */
  enqueueSeq: number | null;
  /** How it records its operations (see RECORDS_READS); 1 for runs recorded before schema version 4. */
  formatVersion: number;
}

/** The format version from which a run's reads of other runs are recorded operations. */
export const RECORDS_READS = 2;

/** Where and how a run waits to be dequeued. */
export interface QueuePlacement {
  queueName: string;
  deduplicationID?: string;
  priority?: number;
}

/** A queue's limits, as the dequeue statement applies them. */
export interface QueueLimits {
  concurrency?: number;
  workerConcurrency?: number;
  rateLimit?: { limitPerPeriod: number; periodSec: number };
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
  queueName?: string;
}

const WORKFLOW_COLUMNS = `workflow_id, name, status, inputs, output, error, executor_id,
  recovery_attempts, recovery_error, created_at, updated_at, queue_name, deduplication_id, priority, started_at,
  timeout_ms, deadline, enqueue_seq, format_version`;
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
  queueName: (r.queue_name as string | null) ?? null,
  deduplicationID: (r.deduplication_id as string | null) ?? null,
  priority: Number(r.priority ?? 0),
  startedAt: nullableNumber(r.started_at),
  timeoutMS: nullableNumber(r.timeout_ms),
  deadline: nullableNumber(r.deadline),
  enqueueSeq: nullableNumber(r.enqueue_seq),
  formatVersion: nullableNumber(r.format_version) ?? 1,
});

const nullableNumber = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A row of stepwise.operation_outputs (or a query with its columns) as an OperationRow. */
export const toOperation = (r: Record<string, unknown>): OperationRow => ({
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
  /** The driver, refusing work once closed with a ShutdownError rather than a driver's raw error. */
  readonly driver: SqlDriver;
  /**
   * This process's lock (see process-lock.ts): runs started or claimed here record its
   * token. Set by the executor before any run is.
   */
  lock: Pick<ProcessLock, "token" | "held"> | undefined;
  private closed = false;

  constructor(driver: SqlDriver) {
    this.driver = closable(driver, () => this.closed);
  }

  /*
   * Each method that writes a token reads it when called, before its first await, so a
   * caller that reads `lock.token` just before the call knows which token the run got
   * (a run must not execute here under a token this process no longer holds).
   */

  /** The token a run started here records (a run started while the lock is lost is stopped at once, and resumed later). */
  private token(): string {
    if (!this.lock) throw new Error("SystemDatabase: no process lock set before starting runs");
    return this.lock.token;
  }

  /** The token a claimed run records; refuses while the process holds no lock, since another process may claim the run too. */
  private claimToken(): string {
    if (!this.lock?.held) {
      throw new DatabaseConnectionError(
        "This process does not hold its lock on the system database (the connection holding it is lost): it claims no run until it does.",
      );
    }
    return this.lock.token;
  }

  get description(): string {
    return this.driver.description;
  }

  /** Brings schema `stepwise` up to this code's version; refuses a newer schema. */
  async migrate(): Promise<void> {
    await this.driver.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      // Only created when missing: CREATE SCHEMA checks the right to create schemas even
      // when the schema exists, and a role that only owns schema stepwise must work.
      const schema = await tx.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'stepwise'`);
      if (schema.rows.length === 0) {
        try {
          await tx.query(`CREATE SCHEMA stepwise`);
        } catch (error) {
          if ((error as { code?: string }).code !== "42501") throw error;
          throw new DatabaseConnectionError(
            `This role may not create schema 'stepwise' in ${this.description}. Have an administrator run ` +
              `CREATE SCHEMA stepwise AUTHORIZATION <this role>; Stepwise needs no other rights.`,
          );
        }
      }
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
   * Records a new run (PENDING, or ENQUEUED when it goes to a queue), or returns the run
   * already recorded under this ID (a workflow ID is an idempotency key). One round trip
   * when the ID is new.
   */
  async insertWorkflow(
    row: Pick<WorkflowRow, "workflowID" | "name" | "inputs" | "executorID"> & Partial<Pick<WorkflowRow, "timeoutMS" | "deadline">>,
    queue?: QueuePlacement,
  ): Promise<{ created: true } | { created: false; existing: WorkflowRow }> {
    const now = Date.now();
    const timeoutMS = row.timeoutMS ?? null;
    const deadline = row.deadline ?? null;
    let inserted;
    try {
      inserted = queue
        ? // The NOTIFY rides in the same statement: one round trip per enqueue.
          await this.driver.query(
            `WITH inserted AS (
               INSERT INTO stepwise.workflow_status
                 (workflow_id, name, status, inputs, executor_id, created_at, updated_at, queue_name, deduplication_id, priority,
                  timeout_ms, deadline)
               VALUES ($1, $2, 'ENQUEUED', $3, $4, $5, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (workflow_id) DO NOTHING
               RETURNING queue_name)
             SELECT pg_notify('${QUEUE_CHANNEL}', md5(queue_name)) FROM inserted`,
            [row.workflowID, row.name, row.inputs, row.executorID, now, queue.queueName, queue.deduplicationID ?? null, queue.priority ?? 0, timeoutMS, deadline],
          )
        : await this.driver.query(
            `INSERT INTO stepwise.workflow_status
               (workflow_id, name, status, inputs, executor_id, created_at, updated_at, started_at, timeout_ms, deadline, process_token)
             VALUES ($1, $2, 'PENDING', $3, $4, $5, $5, $5, $6, $7, $8)
             ON CONFLICT (workflow_id) DO NOTHING`,
            [row.workflowID, row.name, row.inputs, row.executorID, now, timeoutMS, deadline, this.token()],
            "stepwise_insert_workflow",
          );
    } catch (error) {
      if ((error as { code?: string }).code === "23505" && queue?.deduplicationID !== undefined) {
        throw new QueueDeduplicatedError(row.workflowID, queue.queueName, queue.deduplicationID);
      }
      throw error;
    }
    if (queue ? inserted.rows.length === 1 : inserted.rowCount === 1) return { created: true };
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
    // A finished queued run frees a slot: the same statement tells the dequeuers, rather
    // than leaving it to their next poll.
    const result = await this.driver.query<{ done: number }>(
      `WITH updated AS (
         UPDATE stepwise.workflow_status
         SET status = $2, output = $3, error = $4, recovery_error = NULL, deduplication_id = NULL, updated_at = $5
         WHERE workflow_id = $1 AND status = 'PENDING'
         RETURNING queue_name)
       SELECT 1 AS done, CASE WHEN queue_name IS NOT NULL THEN pg_notify('${QUEUE_CHANNEL}', md5(queue_name)) END FROM updated`,
      [workflowID, status, output, error, Date.now()],
      "stepwise_complete_workflow",
    );
    return result.rows.length === 1;
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

  /** Every recorded operation of a run (or those after a function ID), in one query, for a replay. */
  async loadOperations(workflowID: string, afterFunctionID = -1): Promise<OperationRow[]> {
    const result = await this.driver.query(
      `SELECT ${OPERATION_COLUMNS} FROM stepwise.operation_outputs WHERE workflow_id = $1 AND function_id > $2 ORDER BY function_id`,
      [workflowID, afterFunctionID],
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

  /**
   * The PENDING runs of these executors that no live process executes (this one aside:
   * its own are included); with `changedBefore` (epoch ms), only those last changed before it.
   */
  async pendingWorkflows(executorIDs: readonly string[], changedBefore = Number.MAX_SAFE_INTEGER): Promise<WorkflowRow[]> {
    const result = await this.driver.query(
      `SELECT ${WORKFLOW_COLUMNS} FROM stepwise.workflow_status w
       WHERE status = 'PENDING' AND executor_id = ANY($1::text[]) AND updated_at < $2 AND ${noLiveOwner("w", "$3")}
       ORDER BY created_at`,
      [executorIDs, changedBefore, this.claimToken()],
    );
    return result.rows.map(toWorkflow);
  }

  /**
   * The PENDING runs of this executor ID whose process is gone, left by another process
   * of this ID (killed while this one runs, or stopped by a lost lock): they need no wait
   * for a heartbeat. Runs written before process tokens existed count only when last
   * changed before `legacyChangedBefore`, as an older process may still run them.
   */
  async orphanedWorkflows(executorID: string, legacyChangedBefore: number): Promise<WorkflowRow[]> {
    const result = await this.driver.query(
      `SELECT ${WORKFLOW_COLUMNS} FROM stepwise.workflow_status w
       WHERE status = 'PENDING' AND executor_id = $1 AND recovery_error IS NULL
         AND (process_token IS NULL AND updated_at < $2
              OR process_token <> $3 AND pg_try_advisory_xact_lock(${tokenLockKey("process_token")}))
       ORDER BY created_at`,
      [executorID, legacyChangedBefore, this.claimToken()],
    );
    return result.rows.map(toWorkflow);
  }

  /**
   * claimForRecovery for many runs in one statement; returns the new recovery count of
   * each run claimed (a run that ended or changed owner meanwhile is left out).
   */
  async claimManyForRecovery(runs: readonly { workflowID: string; previousOwner: string }[], executorID: string): Promise<Map<string, number>> {
    const result = await this.driver.query<{ workflow_id: string; recovery_attempts: number }>(
      `UPDATE stepwise.workflow_status AS w
       SET recovery_attempts = w.recovery_attempts + 1, executor_id = $3, updated_at = $4, process_token = $5
       FROM unnest($1::text[], $2::text[]) AS c(workflow_id, previous_owner)
       WHERE w.workflow_id = c.workflow_id AND w.executor_id = c.previous_owner AND w.status = 'PENDING' AND ${noLiveOwner("w", "$5")}
       RETURNING w.workflow_id, w.recovery_attempts`,
      [runs.map((r) => r.workflowID), runs.map((r) => r.previousOwner), executorID, Date.now(), this.claimToken()],
    );
    return new Map(result.rows.map((r) => [r.workflow_id, Number(r.recovery_attempts)]));
  }

  /** loadOperations for many runs in one query. */
  async loadManyOperations(workflowIDs: readonly string[]): Promise<Map<string, OperationRow[]>> {
    const result = await this.driver.query(
      `SELECT ${OPERATION_COLUMNS} FROM stepwise.operation_outputs
       WHERE workflow_id = ANY($1::text[]) ORDER BY workflow_id, function_id`,
      [workflowIDs],
    );
    const byRun = new Map<string, OperationRow[]>(workflowIDs.map((id) => [id, []]));
    for (const row of result.rows) {
      const op = toOperation(row);
      byRun.get(op.workflowID)!.push(op);
    }
    return byRun;
  }

  /** Counts a recovery attempt and makes this executor the run's owner; returns the new count. */
  async claimForRecovery(workflowID: string, executorID: string, previousOwner: string): Promise<number> {
    // Conditional on the previous owner: when two executors take over the same dead
    // executor's runs at once, only one claims each run.
    const result = await this.driver.query<{ recovery_attempts: number }>(
      `UPDATE stepwise.workflow_status w
       SET recovery_attempts = recovery_attempts + 1, executor_id = $2, updated_at = $3, process_token = $5
       WHERE workflow_id = $1 AND status = 'PENDING' AND executor_id = $4 AND ${noLiveOwner("w", "$5")}
       RETURNING recovery_attempts`,
      [workflowID, executorID, Date.now(), previousOwner, this.claimToken()],
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
    if (filter.queueName) add("queue_name = ?", filter.queueName);
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

  async notify(channel: string, payload: string, db: Queryable = this.driver): Promise<void> {
    await db.query(`SELECT pg_notify($1, $2)`, [channel, payload]);
  }

  // ---- Messages and events -------------------------------------------------------

  /** Queues a message for a workflow; false when no workflow has that ID. */
  async insertMessage(db: Queryable, destinationID: string, topic: string | null, message: string): Promise<boolean> {
    const result = await db.query(
      `INSERT INTO stepwise.notifications (destination_id, topic, message, created_at)
       SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM stepwise.workflow_status WHERE workflow_id = $1)`,
      [destinationID, topic, message, Date.now()],
    );
    return result.rowCount === 1;
  }

  /** Takes the oldest message for a workflow and topic (FIFO), or null when there is none. */
  async takeMessage(db: Queryable, destinationID: string, topic: string | null): Promise<string | null> {
    const result = await db.query<{ message: string }>(
      `DELETE FROM stepwise.notifications WHERE seq = (
         SELECT seq FROM stepwise.notifications
         WHERE destination_id = $1 AND topic IS NOT DISTINCT FROM $2
         ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING message`,
      [destinationID, topic],
    );
    return result.rows[0]?.message ?? null;
  }

  /**
   * Sets a workflow's event, and keeps the value in the history under the function ID
   * that set it (outside a workflow there is none). A replay that set it already adds nothing.
   */
  async upsertEvent(db: Queryable, workflowID: string, key: string, value: string, functionID?: number): Promise<void> {
    if (functionID !== undefined) {
      await db.query(
        `INSERT INTO stepwise.workflow_events_history (workflow_id, function_id, key, value) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workflow_id, function_id) DO NOTHING`,
        [workflowID, functionID, key, value],
      );
    }
    await db.query(
      `INSERT INTO stepwise.workflow_events (workflow_id, key, value, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (workflow_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
      [workflowID, key, value, Date.now()],
    );
  }

  async getEvent(workflowID: string, key: string): Promise<string | null> {
    const result = await this.driver.query<{ value: string }>(
      `SELECT value FROM stepwise.workflow_events WHERE workflow_id = $1 AND key = $2`,
      [workflowID, key],
    );
    return result.rows[0]?.value ?? null;
  }

  // ---- Read by the dashboard (never on a run's path) ---------------------------------

  /** A workflow's events, latest value of each key. */
  async listEvents(workflowID: string): Promise<{ key: string; value: string; updatedAt: number }[]> {
    const result = await this.driver.query<{ key: string; value: string; updated_at: number }>(
      `SELECT key, value, updated_at FROM stepwise.workflow_events WHERE workflow_id = $1 ORDER BY updated_at, key`,
      [workflowID],
    );
    return result.rows.map((r) => ({ key: r.key, value: r.value, updatedAt: Number(r.updated_at) }));
  }

  /** Messages waiting in a workflow's inbox, oldest first (a received message is deleted, and recorded as its recv). */
  async listMessages(workflowID: string, limit = 100): Promise<{ seq: number; topic: string | null; message: string; createdAt: number }[]> {
    const result = await this.driver.query<{ seq: number; topic: string | null; message: string; created_at: number }>(
      `SELECT seq, topic, message, created_at FROM stepwise.notifications WHERE destination_id = $1 ORDER BY seq LIMIT $2`,
      [workflowID, limit],
    );
    return result.rows.map((r) => ({ seq: Number(r.seq), topic: r.topic, message: r.message, createdAt: Number(r.created_at) }));
  }

  /** The names of the workflows that have runs, for a filter. */
  async listWorkflowNames(): Promise<string[]> {
    const result = await this.driver.query<{ name: string }>(`SELECT DISTINCT name FROM stepwise.workflow_status ORDER BY name LIMIT 500`);
    return result.rows.map((r) => r.name);
  }

  // ---- Queues --------------------------------------------------------------------

  /**
   * Moves up to the free capacity of a queue from ENQUEUED to PENDING, owned by this
   * executor, and returns those runs. Dequeuers of one queue take turns (an advisory
   * lock per queue), so the counts they read cannot go stale between count and claim:
   * the concurrency limits hold across any number of processes. Rows are picked with
   * FOR UPDATE SKIP LOCKED, and only runs of `workflowNames` (what this process can run):
   * a run of another workflow waits for a process that has it.
   */
  async dequeue(
    queueName: string,
    executorID: string,
    limits: QueueLimits,
    localRunning: number,
    workflowNames: readonly string[],
  ): Promise<WorkflowRow[]> {
    if (workflowNames.length === 0) return [];
    const token = this.claimToken();
    return this.driver.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`stepwise.queue.${queueName}`]);
      const now = Date.now();
      let capacity = Number.MAX_SAFE_INTEGER;
      if (limits.concurrency !== undefined || limits.workerConcurrency !== undefined) {
        const counts = await tx.query<{ running: number; mine: number }>(
          `SELECT count(*) AS running, count(*) FILTER (WHERE executor_id = $2) AS mine
           FROM stepwise.workflow_status WHERE queue_name = $1 AND status = 'PENDING'`,
          [queueName, executorID],
        );
        const running = Number(counts.rows[0]!.running);
        const mine = Math.max(Number(counts.rows[0]!.mine), localRunning);
        if (limits.concurrency !== undefined) capacity = Math.min(capacity, limits.concurrency - running);
        if (limits.workerConcurrency !== undefined) capacity = Math.min(capacity, limits.workerConcurrency - mine);
      }
      if (limits.rateLimit) {
        const recent = await tx.query<{ n: number }>(
          `SELECT count(*) AS n FROM stepwise.workflow_status
           WHERE queue_name = $1 AND status <> 'ENQUEUED' AND started_at >= $2`,
          [queueName, now - limits.rateLimit.periodSec * 1000],
        );
        capacity = Math.min(capacity, limits.rateLimit.limitPerPeriod - Number(recent.rows[0]!.n));
      }
      if (capacity <= 0) return [];
      const picked = await tx.query(
        // A queued run's timeout counts from here; an inherited deadline (a parent's) still bounds it.
        `UPDATE stepwise.workflow_status SET status = 'PENDING', executor_id = $2, started_at = $3, updated_at = $3,
           deadline = LEAST(deadline, $3 + timeout_ms), process_token = $6
         WHERE workflow_id IN (
           SELECT workflow_id FROM stepwise.workflow_status
           WHERE queue_name = $1 AND status = 'ENQUEUED' AND name = ANY($5::text[])
           ORDER BY priority, enqueue_seq NULLS FIRST, created_at, workflow_id
           LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING ${WORKFLOW_COLUMNS}`,
        [queueName, executorID, now, Math.min(capacity, 1000), workflowNames, token],
      );
      return picked.rows.map(toWorkflow).sort((a, b) => a.priority - b.priority || (a.enqueueSeq ?? -1) - (b.enqueueSeq ?? -1) || a.createdAt - b.createdAt);
    });
  }

  /**
   * Puts a PENDING run back in a queue, for any executor listening to it to pick up:
   * its own queue if it has one, else `fallbackQueue`. Its recorded steps stay. It counts
   * as a recovery attempt (checked when it is dequeued), so a queued run that kills its
   * process every time is parked like any other.
   */
  async requeue(workflowID: string, previousOwner: string, fallbackQueue: string): Promise<boolean> {
    const result = await this.driver.query<{ queue_name: string }>(
      `UPDATE stepwise.workflow_status w
       SET status = 'ENQUEUED', queue_name = coalesce(queue_name, $4), started_at = NULL, updated_at = $2, process_token = NULL,
           recovery_attempts = recovery_attempts + 1
       WHERE workflow_id = $1 AND status = 'PENDING' AND executor_id = $3 AND ${noLiveOwner("w", "$5")}
       RETURNING queue_name`,
      [workflowID, Date.now(), previousOwner, fallbackQueue, this.claimToken()],
    );
    if (result.rows[0]) await this.notify(QUEUE_CHANNEL, queueKey(result.rows[0].queue_name));
    return result.rowCount === 1;
  }

  // ---- Management ----------------------------------------------------------------

  /**
   * Cancels a run that has not ended; returns whether it did. `error` (serialized) is
   * what its result throws, when the cancellation has a reason (a timeout).
   */
  async cancelWorkflow(workflowID: string, error: string | null = null): Promise<boolean> {
    const result = await this.driver.query(
      `UPDATE stepwise.workflow_status SET status = 'CANCELLED', error = $3, deduplication_id = NULL, updated_at = $2
       WHERE workflow_id = $1 AND status IN ('PENDING', 'ENQUEUED')`,
      [workflowID, Date.now(), error],
    );
    if (result.rowCount === 1) await this.notify(CANCEL_CHANNEL, channelKey(workflowID));
    return result.rowCount === 1;
  }

  /**
   * Makes a cancelled or parked run (or one still PENDING or ENQUEUED) runnable again,
   * with its recovery count reset and its timeout removed (a run that timed out would
   * otherwise be cancelled again at once): PENDING and owned by `executorID`, or, when
   * `intoQueue` is given, ENQUEUED there for whichever executor dequeues it. A PENDING
   * run that another live process executes is left to it (null).
   */
  async reopenWorkflow(workflowID: string, executorID: string, intoQueue?: string): Promise<WorkflowRow | null> {
    const now = Date.now();
    const result = intoQueue
      ? await this.driver.query(
          `UPDATE stepwise.workflow_status w
           SET status = 'ENQUEUED', queue_name = $4, executor_id = $2, recovery_attempts = 0, recovery_error = NULL,
               error = NULL, timeout_ms = NULL, deadline = NULL, started_at = NULL, updated_at = $3, process_token = NULL
           WHERE workflow_id = $1 AND status IN ('CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'PENDING', 'ENQUEUED')
             AND (status <> 'PENDING' OR ${noLiveOwner("w", "$5")})
           RETURNING ${WORKFLOW_COLUMNS}`,
          [workflowID, executorID, now, intoQueue, this.claimToken()],
        )
      : await this.driver.query(
          `UPDATE stepwise.workflow_status w
           SET status = 'PENDING', executor_id = $2, recovery_attempts = 0, recovery_error = NULL, updated_at = $3,
               error = NULL, timeout_ms = NULL, deadline = NULL, started_at = coalesce(started_at, $3), process_token = $4
           WHERE workflow_id = $1 AND status IN ('CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'PENDING', 'ENQUEUED')
             AND (status <> 'PENDING' OR ${noLiveOwner("w", "$4")})
           RETURNING ${WORKFLOW_COLUMNS}`,
          [workflowID, executorID, now, this.claimToken()],
        );
    if (intoQueue && result.rowCount === 1) await this.notify(QUEUE_CHANNEL, queueKey(intoQueue));
    return result.rows[0] ? toWorkflow(result.rows[0]) : null;
  }

  /**
   * A new run of the same workflow and inputs that keeps the operations recorded before
   * `fromFunctionID`: ENQUEUED in `intoQueue` (or PENDING for `executorID` without one).
   */
  async forkWorkflow(
    workflowID: string,
    newWorkflowID: string,
    fromFunctionID: number,
    executorID: string,
    intoQueue?: string,
  ): Promise<WorkflowRow | null> {
    const token = intoQueue ? null : this.token();
    const row = await this.driver.transaction(async (tx) => {
      const now = Date.now();
      const inserted = await tx.query(
        `INSERT INTO stepwise.workflow_status
           (workflow_id, name, status, inputs, executor_id, created_at, updated_at, started_at, queue_name, process_token, format_version)
         SELECT $2, name, $5, inputs, $3, $4::bigint, $4::bigint, CASE WHEN $6::text IS NULL THEN $4::bigint END, $6, $7,
           format_version -- the operations it keeps were recorded in the original's format
         FROM stepwise.workflow_status WHERE workflow_id = $1
         RETURNING ${WORKFLOW_COLUMNS}`,
        [workflowID, newWorkflowID, executorID, now, intoQueue ? "ENQUEUED" : "PENDING", intoQueue ?? null, token],
      );
      if (inserted.rowCount !== 1) return null;
      await tx.query(
        `INSERT INTO stepwise.operation_outputs (${OPERATION_COLUMNS})
         SELECT $2, function_id, step_id, output, error, attempts, child_workflow_id, started_at, completed_at
         FROM stepwise.operation_outputs WHERE workflow_id = $1 AND function_id < $3`,
        [workflowID, newWorkflowID, fromFunctionID],
      );
      // The events its kept operations set, each key at the last value set before the fork point.
      await tx.query(
        `INSERT INTO stepwise.workflow_events_history (workflow_id, function_id, key, value)
         SELECT $2, function_id, key, value FROM stepwise.workflow_events_history WHERE workflow_id = $1 AND function_id < $3`,
        [workflowID, newWorkflowID, fromFunctionID],
      );
      await tx.query(
        `INSERT INTO stepwise.workflow_events (workflow_id, key, value, updated_at)
         SELECT DISTINCT ON (key) $2, key, value, $4::bigint FROM stepwise.workflow_events_history
         WHERE workflow_id = $1 AND function_id < $3 ORDER BY key, function_id DESC`,
        [workflowID, newWorkflowID, fromFunctionID, now],
      );
      return toWorkflow(inserted.rows[0]!);
    });
    if (row && intoQueue) await this.notify(QUEUE_CHANNEL, queueKey(intoQueue));
    return row;
  }

  // ---- Executors -----------------------------------------------------------------

  /**
   * Records that this executor (this process: `instance`) is alive now; the first call
   * registers it. Returns the instance that wrote the row before, or null when there was
   * no row: another instance there since this one's last beat means another live process
   * has the same executor ID.
   */
  async heartbeat(executorID: string, instance: string, startedAt: number): Promise<string | null> {
    const result = await this.driver.query<{ previous: string | null }>(
      `WITH previous AS (SELECT instance FROM stepwise.executors WHERE executor_id = $1)
       INSERT INTO stepwise.executors (executor_id, instance, started_at, heartbeat_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (executor_id) DO UPDATE
         SET instance = EXCLUDED.instance, started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at
       RETURNING (SELECT instance FROM previous) AS previous`,
      [executorID, instance, startedAt, Date.now()],
      "stepwise_heartbeat",
    );
    return result.rows[0]?.previous ?? null;
  }

  /** Registered executors whose last heartbeat is older than `staleBefore` and that still own PENDING runs. */
  async deadExecutors(staleBefore: number): Promise<{ executorID: string; heartbeatAt: number }[]> {
    const result = await this.driver.query<{ executor_id: string; heartbeat_at: number }>(
      `SELECT e.executor_id, e.heartbeat_at FROM stepwise.executors e
       WHERE e.heartbeat_at < $1 AND ${OWNS_PENDING_RUNS}`,
      [staleBefore],
    );
    return result.rows.map((r) => ({ executorID: r.executor_id, heartbeatAt: Number(r.heartbeat_at) }));
  }

  /** Forgets executors silent since `staleBefore` that own no PENDING run (one that came back meanwhile stays). */
  async forgetExecutors(staleBefore: number): Promise<void> {
    await this.driver.query(
      `DELETE FROM stepwise.executors e WHERE e.heartbeat_at < $1 AND NOT ${OWNS_PENDING_RUNS}`,
      [staleBefore],
    );
  }

  // ---- Schedules -----------------------------------------------------------------

  /** The latest tick recorded for a catching-up schedule (epoch ms), or null before its first. */
  async scheduleWatermark(name: string): Promise<number | null> {
    const result = await this.driver.query<{ last_tick: number }>(`SELECT last_tick FROM stepwise.schedules WHERE name = $1`, [name]);
    return result.rows[0] ? Number(result.rows[0].last_tick) : null;
  }

  /** Moves a schedule's watermark forward to `tick` (never back: processes fire the same ticks). */
  async advanceSchedule(name: string, tick: number): Promise<void> {
    await this.driver.query(
      `INSERT INTO stepwise.schedules (name, last_tick) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET last_tick = GREATEST(stepwise.schedules.last_tick, EXCLUDED.last_tick)`,
      [name, tick],
    );
  }

  // ---- Retention -----------------------------------------------------------------

  /** The run and every workflow it started, transitively (by the child IDs its operations recorded). */
  async workflowTree(workflowID: string): Promise<string[]> {
    const result = await this.driver.query<{ id: string }>(
      `WITH RECURSIVE tree(id) AS (
         SELECT $1::text
         UNION
         SELECT o.child_workflow_id FROM stepwise.operation_outputs o JOIN tree ON o.workflow_id = tree.id
         WHERE o.child_workflow_id IS NOT NULL)
       SELECT id FROM tree`,
      [workflowID],
    );
    return result.rows.map((r) => r.id);
  }

  /**
   * Deletes the runs among `workflowIDs` that have ended, with everything recorded for
   * them (operations, events, messages left in their inbox), in one statement. A run
   * still PENDING or ENQUEUED is left alone, and with `spareChildren` so is a child
   * whose parent has not ended (checked here too, as a parent may be resumed meanwhile).
   * Returns the IDs deleted.
   */
  async deleteEndedWorkflows(workflowIDs: readonly string[], options: { spareChildren?: boolean } = {}): Promise<string[]> {
    if (workflowIDs.length === 0) return [];
    const result = await this.driver.query<{ workflow_id: string }>(
      `WITH gone AS (
         DELETE FROM stepwise.workflow_status w
         WHERE w.workflow_id = ANY($1::text[]) AND w.status NOT IN ('PENDING', 'ENQUEUED')
           ${options.spareChildren ? `AND NOT ${UNFINISHED_PARENT}` : ""}
         RETURNING w.workflow_id),
       operations AS (DELETE FROM stepwise.operation_outputs WHERE workflow_id IN (SELECT workflow_id FROM gone)),
       events AS (DELETE FROM stepwise.workflow_events WHERE workflow_id IN (SELECT workflow_id FROM gone)),
       history AS (DELETE FROM stepwise.workflow_events_history WHERE workflow_id IN (SELECT workflow_id FROM gone)),
       inbox AS (DELETE FROM stepwise.notifications WHERE destination_id IN (SELECT workflow_id FROM gone))
       SELECT workflow_id FROM gone`,
      [workflowIDs],
    );
    return result.rows.map((r) => r.workflow_id);
  }

  /**
   * Up to `limit` ended runs created before `before` (epoch ms), oldest first, that no
   * unfinished run depends on: a child whose parent has not ended stays, since the
   * parent's replay reads the child's result.
   */
  async endedWorkflowsBefore(before: number, limit: number): Promise<string[]> {
    const result = await this.driver.query<{ workflow_id: string }>(
      `SELECT w.workflow_id FROM stepwise.workflow_status w
       WHERE w.status NOT IN ('PENDING', 'ENQUEUED') AND w.created_at < $1 AND NOT ${UNFINISHED_PARENT}
       ORDER BY w.created_at
       LIMIT $2`,
      [before, limit],
    );
    return result.rows.map((r) => r.workflow_id);
  }

  /** The creation time of the `n`-th newest run (1 = the newest), or null when there are fewer. */
  async nthNewestCreatedAt(n: number): Promise<number | null> {
    const result = await this.driver.query<{ created_at: number }>(
      `SELECT created_at FROM stepwise.workflow_status ORDER BY created_at DESC OFFSET $1 LIMIT 1`,
      [n - 1],
    );
    return result.rows[0] ? Number(result.rows[0].created_at) : null;
  }

  /** Closes the database; what is still in flight or comes later fails with a ShutdownError. */
  close(): Promise<void> {
    this.closed = true;
    return this.driver.close();
  }
}

/**
 * Whether run `alias` may be claimed by the process holding `token` (a SQL parameter):
 * no live process executes it. Its token is this process's, or none (a run not
 * started yet, or written before tokens), or a token whose lock can be taken: then its
 * process is gone, since a lock is only released with its session and never retaken.
 * The lock is tried, not held: a transaction-level try is released when the statement's
 * transaction ends.
 */
function noLiveOwner(alias: string, token: string): string {
  const column = `${alias}.process_token`;
  return `(${column} IS NULL OR ${column} = ${token} OR pg_try_advisory_xact_lock(${tokenLockKey(column)}))`;
}

/** A driver that, once `isClosed()`, refuses with ShutdownError, and reports a failure that races the close as one. */
function closable(driver: SqlDriver, isClosed: () => boolean): SqlDriver {
  const guard = async <T>(op: () => Promise<T>): Promise<T> => {
    if (isClosed()) throw new ShutdownError(undefined);
    try {
      return await op();
    } catch (error) {
      if (isClosed()) throw new ShutdownError(undefined);
      throw error;
    }
  };
  return {
    kind: driver.kind,
    description: driver.description,
    query: (text, params, name) => guard(() => driver.query(text, params, name)),
    transaction: (fn) => guard(() => driver.transaction(fn)),
    listen: (channel, onPayload) => driver.listen(channel, onPayload),
    close: () => driver.close(),
  };
}

/** Whether executor `e` owns a PENDING run. */
const OWNS_PENDING_RUNS = `EXISTS (SELECT 1 FROM stepwise.workflow_status w WHERE w.status = 'PENDING' AND w.executor_id = e.executor_id)`;

/** Whether run `w` is the child of a run that has not ended. */
const UNFINISHED_PARENT = `EXISTS (
  SELECT 1 FROM stepwise.operation_outputs o
  JOIN stepwise.workflow_status p ON p.workflow_id = o.workflow_id
  WHERE o.child_workflow_id = w.workflow_id AND p.status IN ('PENDING', 'ENQUEUED'))`;

/** NOTIFY channels. Payloads are short hashes: a channel payload is limited to 8000 bytes, IDs are not. */
export const QUEUE_CHANNEL = "stepwise_queue";
export const WAKE_CHANNEL = "stepwise_wake";
export const CANCEL_CHANNEL = "stepwise_cancel";

/**
 * The queue every executor listens to (unless it listens to none): runs resumed, forked
 * or taken over from a process that cannot run them (the CLI, an executor without that
 * workflow) go there, and whichever executor has the workflow runs them.
 */
export const INTERNAL_QUEUE = "_stepwise_internal";

/** The NOTIFY payload on QUEUE_CHANNEL standing for a queue: md5(queue_name) in SQL, the same here. */
export function queueKey(queueName: string): string {
  return createHash("md5").update(queueName, "utf8").digest("hex");
}

/** The NOTIFY payload standing for a waiter's key (a workflow's inbox and topic, an event, ...). */
export function channelKey(...parts: (string | null)[]): string {
  return createHash("md5").update(JSON.stringify(parts)).digest("hex");
}

async function currentVersion(db: Queryable): Promise<number> {
  const exists = await db.query<{ present: boolean }>(
    `SELECT to_regclass('stepwise.schema_migrations') IS NOT NULL AS present`,
  );
  if (!exists.rows[0]?.present) return 0;
  const result = await db.query<{ version: number | null }>(`SELECT max(version) AS version FROM stepwise.schema_migrations`);
  return Number(result.rows[0]?.version ?? 0);
}
