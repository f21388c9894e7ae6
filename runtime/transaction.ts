/**
 * Transactions: a function that runs inside one database transaction on the system
 * database and whose checkpoint is written in that same transaction, so its effects and
 * its record commit together, exactly once. Serialization failures and deadlocks are
 * retried with backoff; any other error rolls back and is checkpointed like a step's.
 */
import type { IsolationLevel, TransactionConfig } from "./config.js";
import { frames, type WorkflowRun } from "./context.js";
import { NonDeterminismError, StepwiseError } from "./errors.js";
import { requireExecutor } from "./executor.js";
import { serialize, serializeError } from "./serialize.js";
import { materialize, sleep } from "./step.js";
import type { Queryable } from "./sysdb/driver.js";
import type { OperationRow } from "./sysdb/system-database.js";

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

/** Thrown inside the database transaction to roll it back when another executor recorded this operation first. */
class AlreadyRecorded {
  constructor(readonly row: OperationRow) {}
}

export function runTransaction<T>(config: ResolvedTransactionConfig, body: () => Promise<T>): Promise<T> {
  const frame = frames.getStore();
  if (frame?.step || frame?.transaction) {
    return Promise.reject(
      new StepwiseError(
        `transaction '${config.name}' was called inside ${frame.step ? `step '${frame.step.stepID}'` : `transaction '${frame.transaction!.name}'`}; ` +
          `call transactions from a workflow body (or outside any workflow).`,
      ),
    );
  }
  const run = frame?.workflow;
  const functionID = run ? run.nextFunctionID++ : undefined;
  if (run && functionID !== undefined) {
    const recorded = run.recorded?.get(functionID);
    if (recorded) {
      if (recorded.stepID !== config.name) {
        const error = new NonDeterminismError(run.workflowID, functionID, recorded.stepID, config.name);
        run.parked ??= error;
        return Promise.reject(error);
      }
      try {
        return Promise.resolve(materialize<T>(run, recorded));
      } catch (error) {
        return Promise.reject(error);
      }
    }
  }
  return execute(config, run, functionID, body);
}

async function execute<T>(
  config: ResolvedTransactionConfig,
  run: WorkflowRun | undefined,
  functionID: number | undefined,
  body: () => Promise<T>,
): Promise<T> {
  const { sysdb } = requireExecutor();
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
    try {
      const value = await sysdb.driver.transaction(async (tx) => {
        await tx.query(
          `SET TRANSACTION ISOLATION LEVEL ${config.isolationLevel.toUpperCase()}${config.readOnly ? " READ ONLY" : ""}`,
        );
        const result = await frames.run({ workflow: run, transaction: { name: config.name, sql: tx } }, body);
        if (!run) return result;
        const output = serialize(result);
        // Inside the user's transaction: the checkpoint commits with the user's writes, or neither does.
        const existing = await sysdb.recordOperationIn(tx, row(output, null, attempt));
        if (existing) throw new AlreadyRecorded(existing);
        return materialize<T>(run, row(output, null, attempt));
      });
      return value;
    } catch (error) {
      if (error instanceof AlreadyRecorded) return materialize<T>(run!, error.row);
      const sqlState = (error as { code?: unknown }).code;
      if (typeof sqlState === "string" && RETRYABLE_SQLSTATES.has(sqlState) && attempt < MAX_CONFLICT_RETRIES) {
        await sleep(Math.min(10 * 2 ** attempt, 1000) * (0.5 + Math.random() / 2));
        continue;
      }
      if (!run) throw error;
      let existing: OperationRow | null;
      try {
        existing = await sysdb.recordOperation(row(null, serializeError(error), attempt));
      } catch (dbError) {
        run.parked ??= dbError as Error;
        throw dbError;
      }
      return materialize<T>(run, existing ?? row(null, serializeError(error), attempt));
    }
  }
}

/** The client bound to the current transaction. */
export function currentSql(): Queryable {
  const transaction = frames.getStore()?.transaction;
  if (!transaction) {
    throw new StepwiseError("Stepwise.sql is only available inside a transaction function (`@transaction` or transaction()).");
  }
  return transaction.sql;
}
