/**
 * Running workflows: starting a run (a workflow ID is an idempotency key), executing its
 * body with a fresh function-ID counter, ending it with its checkpointed outcome, child
 * workflows, handles, and resuming recorded runs.
 */
import { randomUUID } from "node:crypto";
import { frames, takeInvocation, type WorkflowRun } from "./context.js";
import {
  DeserializationError,
  NonDeterminismError,
  StepwiseError,
  WorkflowConflictError,
  WorkflowNotFoundError,
  WorkflowNotRegisteredError,
} from "./errors.js";
import { requireExecutor, type Executor } from "./executor.js";
import { workflowByName } from "./registry.js";
import { deserialize, deserializeError, serialize, serializeError } from "./serialize.js";
import { materialize, sleep } from "./step.js";
import type { OperationRow, WorkflowRow, WorkflowState } from "./sysdb/system-database.js";

export interface WorkflowStatus {
  workflowID: string;
  name: string;
  status: WorkflowState;
  executorID: string;
  createdAt: Date;
  updatedAt: Date;
  recoveryAttempts: number;
  /** Why the run cannot go on (non-determinism, an unregistered name, an unreadable row); it stays PENDING. */
  recoveryError: string | null;
}

export interface WorkflowHandle<T = unknown> {
  readonly workflowID: string;
  getStatus(): Promise<WorkflowStatus | null>;
  getResult(): Promise<T>;
}

export function toStatus(row: WorkflowRow): WorkflowStatus {
  return {
    workflowID: row.workflowID,
    name: row.name,
    status: row.status,
    executorID: row.executorID,
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
    recoveryAttempts: row.recoveryAttempts,
    recoveryError: row.recoveryError,
  };
}

class Handle<T> implements WorkflowHandle<T> {
  constructor(readonly workflowID: string) {}

  async getStatus(): Promise<WorkflowStatus | null> {
    const row = await requireExecutor().sysdb.getWorkflow(this.workflowID);
    return row ? toStatus(row) : null;
  }

  async getResult(): Promise<T> {
    const executor = requireExecutor();
    // Runs elsewhere (another executor, or waiting for recovery) are watched in the database.
    for (let delay = 20; ; delay = Math.min(delay * 2, 1000)) {
      const local = executor.running.get(this.workflowID);
      if (local) return (await local.promise) as T;
      const row = await executor.sysdb.getWorkflow(this.workflowID);
      if (!row) throw new WorkflowNotFoundError(this.workflowID);
      const where = `workflow '${row.workflowID}'`;
      switch (row.status) {
        case "SUCCESS":
          return deserialize(row.output, where) as T;
        case "ERROR":
          throw deserializeError(row.error ?? "null", where);
        case "CANCELLED":
          throw new StepwiseError(`Workflow '${row.workflowID}' was cancelled; it has no result.`);
        case "MAX_RECOVERY_ATTEMPTS_EXCEEDED":
          throw new StepwiseError(
            `Workflow '${row.workflowID}' was recovered ${row.recoveryAttempts} times without finishing and is parked; ` +
              `fix the cause${row.recoveryError ? ` (${row.recoveryError})` : ""} and resume it.`,
          );
        case "PENDING":
          await sleep(delay);
      }
    }
  }
}

export function handleFor<T>(workflowID: string): WorkflowHandle<T> {
  return new Handle<T>(workflowID);
}

/**
 * Entered by every workflow call (marker or compiled tag). Returns the result, or a
 * handle when `startWorkflow` asked for one.
 */
export function runWorkflow(name: string, args: ArrayLike<unknown>, body: () => Promise<unknown>): Promise<unknown> {
  const invocation = takeInvocation();
  const frame = frames.getStore();
  if (frame?.step || frame?.transaction) {
    return Promise.reject(
      new StepwiseError(
        `SW1001: workflow '${name}' was called inside ${frame.step ? `step '${frame.step.stepID}'` : `transaction '${frame.transaction!.name}'`}. ` +
          `A step or transaction cannot start a workflow: call it from the workflow body instead.`,
      ),
    );
  }
  let executor: Executor;
  try {
    executor = requireExecutor();
  } catch (error) {
    return Promise.reject(error);
  }

  let handle: Promise<WorkflowHandle<unknown>>;
  if (invocation?.recover) {
    const { workflowID, operations } = invocation.recover;
    const run: WorkflowRun = {
      workflowID,
      name,
      nextFunctionID: 0,
      recorded: new Map(operations.map((op) => [op.functionID, op])),
    };
    begin(executor, run, body);
    handle = Promise.resolve(new Handle(workflowID));
  } else {
    const parent = frame?.workflow;
    const values = Array.from(args);
    if (parent) {
      // A child workflow: its ID is recorded at the parent's function ID, and by default
      // derived from it, so a replayed parent reattaches to the same child.
      const functionID = parent.nextFunctionID++;
      const recorded = parent.recorded?.get(functionID);
      if (recorded && recorded.stepID !== name) {
        const error = new NonDeterminismError(parent.workflowID, functionID, recorded.stepID, name);
        parent.parked ??= error;
        return Promise.reject(error);
      }
      const workflowID = recorded?.childWorkflowID ?? invocation?.workflowID ?? `${parent.workflowID}-${functionID}`;
      handle = (async () => {
        if (!recorded) await recordChild(executor, parent, functionID, name, workflowID);
        return start(executor, name, values, workflowID, body);
      })();
    } else {
      handle = start(executor, name, values, invocation?.workflowID ?? randomUUID(), body);
    }
  }
  return invocation?.wantHandle ? handle : handle.then((h) => h.getResult());
}

async function recordChild(executor: Executor, parent: WorkflowRun, functionID: number, name: string, childID: string) {
  const now = Date.now();
  try {
    await executor.sysdb.recordOperation({
      workflowID: parent.workflowID,
      functionID,
      stepID: name,
      output: null,
      error: null,
      attempts: 1,
      childWorkflowID: childID,
      startedAt: now,
      completedAt: now,
    });
  } catch (error) {
    parent.parked ??= error as Error;
    throw error;
  }
}

async function start(
  executor: Executor,
  name: string,
  args: unknown[],
  workflowID: string,
  body: () => Promise<unknown>,
): Promise<WorkflowHandle<unknown>> {
  const local = executor.running.get(workflowID);
  if (local) {
    if (local.name !== name) throw new WorkflowConflictError(workflowID, local.name, name);
    return new Handle(workflowID);
  }
  const outcome = await executor.sysdb.insertWorkflow({
    workflowID,
    name,
    inputs: serialize(args),
    executorID: executor.executorID,
  });
  if (outcome.created) {
    begin(executor, { workflowID, name, nextFunctionID: 0, recorded: undefined }, body);
    return new Handle(workflowID);
  }
  const existing = outcome.existing;
  if (existing.name !== name) throw new WorkflowConflictError(workflowID, existing.name, name);
  // Ours, PENDING and not running here: an earlier process was interrupted. Go on with it
  // now (from its recorded inputs) rather than wait for the next launch's recovery.
  if (existing.status === "PENDING" && existing.executorID === executor.executorID && !executor.running.has(workflowID)) {
    await resumeRun(executor, existing);
  }
  return new Handle(workflowID);
}

/** Executes a run in this process and tracks it until it ends. */
function begin(executor: Executor, run: WorkflowRun, body: () => Promise<unknown>): void {
  const promise = execute(executor, run, body);
  const entry = { name: run.name, promise };
  executor.running.set(run.workflowID, entry);
  const done = () => {
    if (executor.running.get(run.workflowID) === entry) executor.running.delete(run.workflowID);
  };
  promise.then(done, done);
}

async function execute(executor: Executor, run: WorkflowRun, body: () => Promise<unknown>): Promise<unknown> {
  const { sysdb } = executor;
  const where = `workflow '${run.workflowID}'`;
  let value: unknown;
  try {
    value = await frames.run({ workflow: run }, body);
  } catch (error) {
    if (run.parked) return park(executor, run, run.parked);
    const text = serializeError(error);
    await sysdb.completeWorkflow(run.workflowID, "ERROR", null, text);
    throw deserializeError(text, where);
  }
  if (run.parked) return park(executor, run, run.parked);
  const output = serialize(value);
  await sysdb.completeWorkflow(run.workflowID, "SUCCESS", output, null);
  return deserialize(output, where);
}

/** Leaves a run that cannot go on correctly PENDING, with the reason visible; nothing recorded is touched. */
async function park(executor: Executor, run: WorkflowRun, reason: Error): Promise<never> {
  executor.logger.error(`workflow ${run.workflowID} (${run.name}) stopped and stays PENDING: ${reason.message}`);
  await executor.sysdb.setRecoveryError(run.workflowID, `${reason.name}: ${reason.message}`).catch(() => {});
  throw reason;
}

/**
 * Resumes a recorded PENDING run in this process: calls its registered workflow again
 * with the recorded inputs, replaying recorded operations. Returns false when the run
 * cannot be resumed here (the reason is recorded on the run, which stays PENDING).
 */
export async function resumeRun(executor: Executor, row: WorkflowRow): Promise<boolean> {
  if (executor.running.has(row.workflowID)) return true;
  const { sysdb, logger } = executor;
  const entry = workflowByName(row.name);
  if (!entry) {
    const error = new WorkflowNotRegisteredError(row.workflowID, row.name);
    logger.error(error.message);
    await sysdb.setRecoveryError(row.workflowID, `${error.name}: ${error.message}`);
    return false;
  }
  const attempts = await sysdb.claimForRecovery(row.workflowID, executor.executorID);
  if (attempts === 0) return false; // It ended meanwhile.
  const maxAttempts = entry.config.maxRecoveryAttempts ?? 100;
  if (attempts > maxAttempts) {
    await sysdb.setStatus(row.workflowID, "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "PENDING");
    logger.error(
      `workflow ${row.workflowID} (${row.name}) was recovered ${attempts - 1} times without finishing; ` +
        `parked as MAX_RECOVERY_ATTEMPTS_EXCEEDED`,
    );
    return false;
  }
  let args: unknown;
  let operations: OperationRow[];
  try {
    args = deserialize(row.inputs, `the inputs of workflow '${row.workflowID}'`);
    operations = await sysdb.loadOperations(row.workflowID);
  } catch (error) {
    if (!(error instanceof DeserializationError)) throw error;
    logger.error(error.message);
    await sysdb.setRecoveryError(row.workflowID, `${error.name}: ${error.message}`);
    return false;
  }
  const invocation = { wantHandle: true, recover: { workflowID: row.workflowID, operations }, consumed: false };
  await frames.run({ invocation }, () => entry.fn.apply(entry.thisArg, (args ?? []) as never[]));
  return true;
}

/** Resumes every PENDING run owned by these executors; returns the IDs now running here. */
export async function recoverPending(executor: Executor, executorIDs: readonly string[]): Promise<string[]> {
  const rows = await executor.sysdb.pendingWorkflows(executorIDs);
  const resumed: string[] = [];
  for (const row of rows) {
    if (await resumeRun(executor, row)) resumed.push(row.workflowID);
  }
  if (rows.length > 0) {
    executor.logger.info(`recovery: resumed ${resumed.length} of ${rows.length} pending workflow(s)`);
  }
  return resumed;
}
