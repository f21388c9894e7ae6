/**
 * Transactions: a function that runs inside one database transaction on the application
 * database. When that is the system database, the checkpoint is written in that same
 * transaction, so its effects and its record commit together, exactly once. When it is
 * a separate database, the output is written in the transaction to
 * stepwise_app.transaction_outputs and the checkpoint goes to the system database after
 * the commit; recovery adopts a committed output it finds there instead of running the
 * transaction again. Serialization failures and deadlocks are retried with backoff; any
 * other error rolls back and is checkpointed like a step's.
 */
import type { IsolationLevel, TransactionConfig } from "./config.js";
import { frames, type WorkflowRun } from "./context.js";
import { NonDeterminismError, StepwiseError } from "./errors.js";
import { requireExecutor } from "./executor.js";
import { AlreadyRecorded, nextOperation, recordInTransaction } from "./operations.js";
import { serialize, serializeError } from "./serialize.js";
import { materialize, sleep } from "./step.js";
import type { TransactionOutputRow } from "./sysdb/app-database.js";
import type { Queryable } from "./sysdb/driver.js";
import type { OperationRow } from "./sysdb/system-database.js";
import { endStepSpan, inSpan, startOperationSpan } from "./tracing.js";

export interface ResolvedTransactionConfig {
  name: string;
  isolationLevel: IsolationLevel;
  readOnly: boolean;
}

export function resolveTransactionConfig(config: TransactionConfig & { name: string }): ResolvedTransactionConfig {
  return { name: config.name, isolationLevel: config.isolationLevel ?? "read committed", readOnly: config.readOnly ?? false };
}

const RETRYABLE_SQLSTATES = new Set(["40001", "40P01"]);
const MAX_CONFLICT_RETRIES = 10;

/** The same on a separate application database: the outcome that counts is in stepwise_app.transaction_outputs. */
class AlreadyCommitted {}

/**
 * Test hooks, not public API: `afterCommit` runs right after a transaction commits and
 * before its checkpoint reaches the system database (when that is a separate write), so
 * a crash test can kill the process at exactly that point.
 * @internal
 */
export const transactionTestHooks: {
  afterCommit?: (info: { name: string; workflowID: string | undefined; functionID: number | undefined }) => unknown;
} = {};

export function runTransaction<T>(config: ResolvedTransactionConfig, body: () => Promise<T>): Promise<T> {
  const frame = frames.getStore();
  if (frame?.step || frame?.transaction) {
    return Promise.reject(
      new StepwiseError(
        `SW1001: transaction '${config.name}' was called inside ${frame.step ? `step '${frame.step.stepID}'` : `transaction '${frame.transaction!.name}'`}; ` +
          `call transactions from a workflow body (or outside any workflow).`,
      ),
    );
  }
  const run = frame?.workflow;
  let functionID: number | undefined;
  if (run) {
    let recorded: OperationRow | undefined;
    try {
      ({ functionID, recorded } = nextOperation(run, config.name));
      if (recorded) return Promise.resolve(materialize<T>(run, recorded));
    } catch (error) {
      return Promise.reject(error);
    }
    // A run being recovered, on a separate application database: the transaction may have
    // committed there before the process died, without its checkpoint in the system database.
    if (run.resumed && run.executor.appdb) return run.executor.track(recoverThenExecute(config, run, functionID, body));
    return run.executor.track(execute(config, run, functionID, body));
  }
  return execute(config, run, functionID, body);
}

async function recoverThenExecute<T>(
  config: ResolvedTransactionConfig,
  run: WorkflowRun,
  functionID: number,
  body: () => Promise<T>,
): Promise<T> {
  const { appdb } = run.executor;
  let committed: TransactionOutputRow | null;
  try {
    committed = await appdb!.get(run.workflowID, functionID);
  } catch (error) {
    run.parked ??= error as Error;
    throw error;
  }
  if (committed) return adopt<T>(config, run, committed);
  return execute(config, run, functionID, body);
}

/** Takes a transaction's outcome recorded in the application database as its checkpoint: it never runs again. */
async function adopt<T>(config: ResolvedTransactionConfig, run: WorkflowRun, committed: TransactionOutputRow): Promise<T> {
  if (committed.stepID !== config.name) {
    const error = new NonDeterminismError(run.workflowID, committed.functionID, committed.stepID, config.name);
    run.parked ??= error;
    throw error;
  }
  const row: OperationRow = { ...committed, childWorkflowID: null };
  return materialize<T>(run, (await checkpoint(run, row)) ?? row);
}

/** Writes a checkpoint to the system database; returns the row another executor recorded first, if any. */
async function checkpoint(run: WorkflowRun, row: OperationRow): Promise<OperationRow | null> {
  try {
    return await run.executor.sysdb.recordOperation(row);
  } catch (error) {
    // The outcome could not be saved: the run must not go on as if it had been.
    run.parked ??= error as Error;
    throw error;
  }
}

async function execute<T>(
  config: ResolvedTransactionConfig,
  run: WorkflowRun | undefined,
  functionID: number | undefined,
  body: () => Promise<T>,
): Promise<T> {
  const { sysdb, appdb } = run?.executor ?? requireExecutor();
  const driver = appdb?.driver ?? sysdb.driver;
  const startedAt = Date.now();
  const row = (output: string | null, error: string | null, attempts: number): OperationRow => ({
    workflowID: run!.workflowID,
    functionID: functionID!,
    stepID: config.name,
    output,
    error,
    attempts,
    childWorkflowID: null,
    startedAt,
    completedAt: Date.now(),
  });
  for (let attempt = 1; ; attempt++) {
    let written: OperationRow | undefined;
    let value: T;
    // One span per attempt (a serialization failure retries), like a step's.
    const span = startOperationSpan(run, config.name, functionID, {
      "stepwise.kind": "transaction",
      "stepwise.attempt": attempt,
      "stepwise.isolation_level": config.isolationLevel,
      "stepwise.read_only": config.readOnly,
    });
    try {
      value = await inSpan(span, () => driver.transaction(async (tx) => {
        await tx.query(
          `SET TRANSACTION ISOLATION LEVEL ${config.isolationLevel.toUpperCase()}${config.readOnly ? " READ ONLY" : ""}`,
        );
        const result = await frames.run({ workflow: run, transaction: { name: config.name, sql: tx } }, body);
        // A read-only transaction changes nothing, so running it twice is harmless; and it
        // could not write the record anyway. Its checkpoint is written after it commits.
        if (!run || config.readOnly) return result;
        const recorded = row(serialize(result), null, attempt);
        if (appdb) {
          // Commits with the user's writes: recovery finds it if the process dies before the checkpoint.
          if (!(await appdb.recordIn(tx, recorded))) throw new AlreadyCommitted();
        } else {
          // Inside the user's transaction: the checkpoint commits with the user's writes, or neither does.
          await recordInTransaction(sysdb, tx, recorded);
        }
        written = recorded;
        return result;
      }))();
      endStepSpan(span, "success");
    } catch (error) {
      const superseded = error instanceof AlreadyRecorded || error instanceof AlreadyCommitted;
      endStepSpan(span, superseded ? "superseded" : "error", superseded ? undefined : error);
      if (error instanceof AlreadyRecorded) return materialize<T>(run!, error.row);
      if (error instanceof AlreadyCommitted) return adoptCommitted<T>(config, run!, functionID!);
      const sqlState = (error as { code?: unknown }).code;
      if (typeof sqlState === "string" && RETRYABLE_SQLSTATES.has(sqlState) && attempt < MAX_CONFLICT_RETRIES) {
        await sleep(Math.min(10 * 2 ** attempt, 1000) * (0.5 + Math.random() / 2));
        continue;
      }
      if (!run) throw error;
      return recordFailure<T>(config, run, row(null, serializeError(error), attempt));
    }
    if (transactionTestHooks.afterCommit) {
      await transactionTestHooks.afterCommit({ name: config.name, workflowID: run?.workflowID, functionID });
    }
    if (!run) return value;
    if (written && !appdb) return materialize<T>(run, written);
    const done = written ?? row(serialize(value), null, attempt);
    return materialize<T>(run, (await checkpoint(run, done)) ?? done);
  }
}

/** Another executor's transaction committed at this function ID first: take its outcome. */
async function adoptCommitted<T>(config: ResolvedTransactionConfig, run: WorkflowRun, functionID: number): Promise<T> {
  const { appdb } = run.executor;
  let committed: TransactionOutputRow | null;
  try {
    committed = await appdb!.get(run.workflowID, functionID);
  } catch (error) {
    run.parked ??= error as Error;
    throw error;
  }
  if (!committed) {
    const error = new StepwiseError(
      `transaction '${config.name}' of workflow '${run.workflowID}' (function ID ${functionID}) found an outcome ` +
        `recorded in stepwise_app.transaction_outputs that then disappeared; do not delete rows of a running workflow.`,
    );
    run.parked ??= error;
    throw error;
  }
  return adopt<T>(config, run, committed);
}

/**
 * A transaction that failed (and rolled back) is checkpointed like a failed step. On a
 * separate application database its error is recorded there first: if another executor
 * (or a commit whose acknowledgement was lost) already recorded an outcome, that one wins.
 */
async function recordFailure<T>(config: ResolvedTransactionConfig, run: WorkflowRun, failed: OperationRow): Promise<T> {
  const { appdb } = run.executor;
  if (appdb && !config.readOnly) {
    let inserted: boolean;
    try {
      inserted = await appdb.recordIn(appdb.driver, failed);
    } catch (dbError) {
      run.parked ??= dbError as Error;
      throw dbError;
    }
    if (!inserted) return adoptCommitted<T>(config, run, failed.functionID);
  }
  return materialize<T>(run, (await checkpoint(run, failed)) ?? failed);
}

/** The client bound to the current transaction. */
export function currentSql(): Queryable {
  const transaction = frames.getStore()?.transaction;
  if (!transaction) {
    throw new StepwiseError("Stepwise.sql is only available inside a transaction function (`@transaction` or transaction()).");
  }
  return transaction.sql;
}
