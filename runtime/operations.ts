/**
 * What every durable operation does first inside a workflow: refuse to run where it
 * must not (inside a step or transaction), stop a cancelled run, take the next
 * function ID synchronously, and find what a replayed run recorded there.
 */
import { frames, type WorkflowRun } from "./context.js";
import { NonDeterminismError, StepwiseError, WorkflowCancelledError } from "./errors.js";
import type { Queryable } from "./sysdb/driver.js";
import type { OperationRow, SystemDatabase } from "./sysdb/system-database.js";

/**
 * The current workflow run, after checking that a workflow-only operation may run here;
 * `rule` is the compile-time rule that reports the same misuse, when there is one.
 */
export function workflowOperationContext(operation: string, rule?: "SW1001" | "SW1002"): WorkflowRun | undefined {
  const frame = frames.getStore();
  if (frame?.step || frame?.transaction) {
    const inside = frame.step ? `step '${frame.step.stepID}'` : `transaction '${frame.transaction!.name}'`;
    throw new StepwiseError(
      `${rule ? `${rule}: ` : ""}${operation} was called inside ${inside}. It is a durable operation of the workflow, and a step ` +
        `may run again on retry or recovery, which would repeat it: call it from the workflow body instead.`,
    );
  }
  return frame?.workflow;
}

/** Takes the next function ID of a run for an operation named `stepID`, and what was recorded there. */
export function nextOperation(run: WorkflowRun, stepID: string): { functionID: number; recorded: OperationRow | undefined } {
  throwIfStopped(run);
  if (run.cancelled) throw new WorkflowCancelledError(run.workflowID);
  const functionID = run.nextFunctionID++;
  const recorded = run.recorded?.get(functionID);
  if (recorded && recorded.stepID !== stepID) {
    const error = new NonDeterminismError(run.workflowID, functionID, recorded.stepID, stepID);
    run.parked ??= error;
    throw error;
  }
  return { functionID, recorded };
}

/**
 * Stops a run that this process must no longer execute (shutdown, or its process lock
 * lost) at a durable operation: checked where each operation starts and where a wait wakes.
 */
export function throwIfStopped(run: WorkflowRun): void {
  if (!run.stopped) return;
  run.stopThrown = true;
  throw run.stopped;
}

export function operationRow(run: WorkflowRun, functionID: number, stepID: string, startedAt: number): OperationRow {
  return {
    workflowID: run.workflowID,
    functionID,
    stepID,
    output: null,
    error: null,
    attempts: 1,
    childWorkflowID: null,
    startedAt,
    completedAt: Date.now(),
  };
}

/** Thrown inside a database transaction to roll it back when another executor recorded the operation first. */
export class AlreadyRecorded {
  constructor(readonly row: OperationRow) {}
}

/**
 * Records an operation's outcome inside a transaction (so it commits with the
 * operation's own writes) or rolls the transaction back when a record already exists.
 */
export async function recordInTransaction(sysdb: SystemDatabase, tx: Queryable, row: OperationRow): Promise<void> {
  const existing = await sysdb.recordOperationIn(tx, row);
  if (existing) throw new AlreadyRecorded(existing);
}

/** Marks the run as unable to go on when the system database fails under it, and rethrows. */
export function parkOnFailure(run: WorkflowRun, error: unknown): never {
  if (!(error instanceof AlreadyRecorded)) run.parked ??= error as Error;
  throw error;
}
