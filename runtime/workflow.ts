/**
 * Running workflows: starting a run (a workflow ID is an idempotency key), executing its
 * body with a fresh function-ID counter, ending it with its checkpointed outcome, child
 * workflows, handles, and resuming recorded runs.
 */
import { randomUUID } from "node:crypto";
import { frames, takeInvocation, type WorkflowRun } from "./context.js";
import { isConnectionError } from "./sysdb/pg.js";
import {
  DatabaseConnectionError,
  DeserializationError,
  QueueDeduplicatedError,
  ShutdownError,
  StepwiseError,
  WorkflowCancelledError,
  WorkflowConflictError,
  WorkflowNotFoundError,
  WorkflowNotRegisteredError,
} from "./errors.js";
import { currentExecutor, requireExecutor, type Executor } from "./executor.js";
import { workflowByName } from "./registry.js";
import { endWorkflowSpan, traceWorkflow } from "./tracing.js";
import { deserialize, deserializeError, serialize, serializeBounded, serializeError, serializeStrict } from "./serialize.js";
import { materialize, sleep } from "./step.js";
import { nextOperation, operationRow, throwIfStopped } from "./operations.js";
import { recordedRead } from "./reads.js";
import { recordRow } from "./messaging.js";
import { deadlineFor, reachedDeadline, timeoutError, watchDeadline } from "./timeouts.js";
import {
  channelKey,
  INTERNAL_QUEUE,
  RECORDS_READS,
  type OperationRow,
  type QueuePlacement,
  type WorkflowRow,
  type WorkflowState,
} from "./sysdb/system-database.js";

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
  /** The timeout it was started with, ms (null: none of its own). */
  timeoutMS: number | null;
  /** When it is cancelled if it has not ended: set when it starts executing, or its parent's. Null: no deadline. */
  deadline: Date | null;
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
    timeoutMS: row.timeoutMS,
    deadline: row.deadline === null ? null : new Date(row.deadline),
  };
}

class Handle<T> implements WorkflowHandle<T> {
  /** The launched runtime it was made in: once that shuts down, the handle says so (ShutdownError). */
  private readonly executor: Executor | undefined;

  constructor(
    readonly workflowID: string,
    executor: Executor | undefined = currentExecutor(),
  ) {
    this.executor = executor;
  }

  /** In a workflow, recorded: a replay sees the status the first run saw. */
  getStatus(): Promise<WorkflowStatus | null> {
    return recordedRead("Stepwise.getStatus", async () => {
      const row = await this.read(this.executor ?? requireExecutor());
      return row ? toStatus(row) : null;
    });
  }

  /** The run's row; once the process has shut down, a ShutdownError naming the run. */
  private async read(executor: Executor): Promise<WorkflowRow | null> {
    try {
      return await executor.sysdb.getWorkflow(this.workflowID);
    } catch (error) {
      throw error instanceof ShutdownError ? new ShutdownError(this.workflowID) : error;
    }
  }

  /** In a workflow, recorded (the result or the error): a replay sees what the first run saw. */
  getResult(): Promise<T> {
    return recordedRead("Stepwise.getResult", () => this.awaitResult());
  }

  /** Waits for the run's outcome, unrecorded. */
  async awaitResult(): Promise<T> {
    const executor = this.executor ?? requireExecutor();
    // A workflow waiting here is a durable wait: its cancellation, deadline or stop wakes it.
    const caller = frames.getStore()?.workflow;
    // Runs elsewhere (another executor, or waiting for recovery) are watched in the database.
    for (let delay = 20; ; delay = Math.min(delay * 2, 1000)) {
      if (caller) throwIfStopped(caller);
      if (caller?.cancelled) throw new WorkflowCancelledError(caller.workflowID);
      const local = executor.running.get(this.workflowID);
      if (local) {
        try {
          if (!caller) return (await local.promise) as T;
          const ended = await untilCancelled(executor, caller, local.promise);
          if (ended) return ended.value as T;
          continue;
        } catch (error) {
          // Stopped here because the process lock was lost: it resumes (here or elsewhere); watch it in the database.
          if (!(local.run?.stopped === error && !executor.stopping)) throw error;
          await untilStop(executor, delay);
          continue;
        }
      }
      const row = await this.read(executor);
      if (!row) throw new WorkflowNotFoundError(this.workflowID);
      const where = `workflow '${row.workflowID}'`;
      switch (row.status) {
        case "SUCCESS":
          return deserialize(row.output, where) as T;
        case "ERROR":
          throw deserializeError(row.error ?? "null", where);
        case "CANCELLED":
          // A cancellation with a reason (a timeout) recorded it as the run's error.
          if (row.error) throw deserializeError(row.error, where);
          throw new WorkflowCancelledError(row.workflowID, `Workflow '${row.workflowID}' was cancelled; it has no result.`);
        case "MAX_RECOVERY_ATTEMPTS_EXCEEDED":
          throw new StepwiseError(
            `Workflow '${row.workflowID}' was recovered ${row.recoveryAttempts} times without finishing and is parked; ` +
              `fix the cause${row.recoveryError ? ` (${row.recoveryError})` : ""} and resume it.`,
          );
        case "PENDING":
        case "ENQUEUED":
          // This process is shutting down: it will not see the run end (a run of its own has stopped by now).
          if (executor.stopping) throw new ShutdownError(this.workflowID);
          if (caller) await untilCancelled(executor, caller, untilStop(executor, delay));
          else await untilStop(executor, delay);
      }
    }
  }
}

/**
 * Waits for `work`, or for `run` to be cancelled (cancelWorkflow, its deadline), whichever
 * comes first: undefined when cancelled first. `work`'s rejection is thrown.
 */
async function untilCancelled<V>(executor: Executor, run: WorkflowRun, work: Promise<V>): Promise<{ value: V } | undefined> {
  const settled = work.then((value) => ({ value }));
  settled.catch(() => {}); // Left unawaited when cancelled first: its failure is not this wait's.
  for (;;) {
    if (run.cancelled) return undefined;
    const watch = executor.notifier.watch(channelKey(run.workflowID));
    try {
      // Checked again once watching: a cancellation between the check and the watch is not missed.
      if (run.cancelled) return undefined;
      const woken = await Promise.race([settled, watch.wait(Number.MAX_SAFE_INTEGER).then(() => undefined)]);
      if (woken) return woken;
    } finally {
      watch.close();
    }
  }
}

/** Sleeps `ms`, or less when the executor begins to shut down meanwhile. */
async function untilStop(executor: Executor, ms: number): Promise<void> {
  let wake = () => {};
  const woken = new Promise<void>((resolve) => (wake = resolve));
  executor.stopListeners.add(wake);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([woken, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
    executor.stopListeners.delete(wake);
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
  // A run's child, or a recovered run, belongs to the executor that runs it, not to whichever is current.
  let executor: Executor;
  try {
    executor = invocation?.recover?.executor ?? frame?.workflow?.executor ?? requireExecutor();
  } catch (error) {
    return Promise.reject(error);
  }

  let handle: Promise<WorkflowHandle<unknown>>;
  if (invocation?.recover) {
    const { workflowID, operations, queueName, deadline, recordsReads, token } = invocation.recover;
    const run: WorkflowRun = {
      workflowID,
      executor,
      name,
      nextFunctionID: 0,
      recorded: operations.length ? new Map(operations.map((op) => [op.functionID, op])) : undefined,
      resumed: true,
      deadline,
      recordsReads,
    };
    begin(executor, run, body, token, queueName);
    handle = Promise.resolve(new Handle(workflowID, executor));
  } else {
    const parent = frame?.workflow;
    const values = Array.from(args);
    if (parent) {
      // A child workflow: its ID is recorded at the parent's function ID, and by default
      // derived from it, so a replayed parent reattaches to the same child.
      // A cancelled parent stops here, and a replay that reaches another operation parks.
      let op: ReturnType<typeof nextOperation>;
      try {
        op = nextOperation(parent, name);
      } catch (error) {
        return Promise.reject(error);
      }
      const { functionID, recorded } = op;
      const workflowID = recorded?.childWorkflowID ?? invocation?.workflowID ?? `${parent.workflowID}-${functionID}`;
      // An enqueue a deduplication ID may refuse is recorded after it, with the refusal as
      // its outcome, so a replay refuses it too (rather than enqueue a child that never was).
      // Recording after is safe: a replay that finds the child enqueued adopts it by its ID.
      const refusable = invocation?.queue?.deduplicationID !== undefined;
      handle = (async () => {
        if (recorded?.error != null) return materialize<never>(parent, recorded);
        if (!recorded && !refusable) await recordChild(executor, parent, functionID, name, workflowID);
        let started: WorkflowHandle<unknown>;
        try {
          // A child is bound by its parent's deadline as well as by its own timeout.
          started = await start(executor, name, values, workflowID, body, invocation, parent.deadline);
        } catch (error) {
          if (!recorded && refusable && error instanceof QueueDeduplicatedError) {
            return recordRow<never>(executor, parent, { ...operationRow(parent, functionID, name, Date.now()), error: serializeError(error) });
          }
          throw error;
        }
        if (!recorded && refusable) await recordChild(executor, parent, functionID, name, workflowID);
        return started;
      })();
    } else {
      handle = start(executor, name, values, invocation?.workflowID ?? randomUUID(), body, invocation);
    }
  }
  // Calling a workflow is one operation (the child's ID, recorded above): its result is
  // the child's own record, not a read of another run.
  return invocation?.wantHandle ? handle : handle.then((h) => (h as Handle<unknown>).awaitResult());
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
  invocation: { queue?: QueuePlacement; timeoutMS?: number; adopt?: boolean } | undefined,
  inherited?: WorkflowRun["deadline"],
): Promise<WorkflowHandle<unknown>> {
  const local = executor.running.get(workflowID);
  if (local) {
    if (local.name !== name) throw new WorkflowConflictError(workflowID, local.name, name);
    return new Handle(workflowID, executor);
  }
  if (executor.stopping) throw new ShutdownError(undefined);
  const queue = invocation?.queue;
  // A queued run's own timeout starts when it is dequeued; only an inherited deadline is fixed now.
  const deadline = queue ? deadlineFor(undefined, inherited) : deadlineFor(invocation?.timeoutMS, inherited);
  const token = executor.lock.token; // the one insertWorkflow records
  const outcome = await executor.sysdb.insertWorkflow(
    {
      workflowID,
      name,
      inputs: serializeStrict(args, `the inputs of workflow '${name}'`),
      executorID: executor.executorID,
      timeoutMS: invocation?.timeoutMS ?? null,
      deadline: deadline?.at ?? null,
    },
    queue,
  );
  if (outcome.created) {
    // A queued run waits for a dequeuer (in this process or another) to start it.
    if (!queue) begin(executor, { workflowID, executor, name, nextFunctionID: 0, recorded: undefined, deadline }, body, token);
    return new Handle(workflowID, executor);
  }
  const existing = outcome.existing;
  if (existing.name !== name) throw new WorkflowConflictError(workflowID, existing.name, name);
  // Ours, PENDING and not running here: an earlier process was interrupted. Go on with it
  // now (from its recorded inputs) rather than wait for the next launch's recovery.
  if (
    invocation?.adopt !== false &&
    existing.status === "PENDING" &&
    existing.executorID === executor.executorID &&
    !executor.running.has(workflowID)
  ) {
    await resumeRun(executor, existing, "recover");
  }
  return new Handle(workflowID, executor);
}

/**
 * Executes a run in this process and tracks it until it ends. `token` is the process
 * token it was claimed or started with: one this process no longer holds (or a shutdown
 * begun meanwhile) stops it at its first durable operation, and it stays PENDING.
 */
function begin(executor: Executor, run: WorkflowRun, body: () => Promise<unknown>, token: string, queueName?: string | null): void {
  if (!executor.mayExecute(token)) run.stopped = executor.stopReason(run.workflowID);
  const promise = execute(executor, run, traceWorkflow(run, body)).catch((error: unknown) => {
    // The database closed under it at shutdown: say which run, and that it stays PENDING.
    throw error instanceof ShutdownError && error.workflowID === undefined ? new ShutdownError(run.workflowID) : error;
  });
  endWorkflowSpan(run, promise);
  const entry = { name: run.name, promise, run, queueName };
  executor.running.set(run.workflowID, entry);
  const disarm = watchDeadline(executor, run);
  const done = () => {
    disarm();
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
    if (halted(executor, run, error)) throw run.stopped ?? new ShutdownError(run.workflowID);
    if (run.parked) return park(executor, run, run.parked);
    if (run.cancelled || reachedDeadline(executor, run)) throw await cancellation(run);
    const text = serializeError(error);
    await sysdb.completeWorkflow(run.workflowID, "ERROR", null, text);
    throw deserializeError(text, where);
  }
  // The body went on after a stop was thrown into it (it caught it): what it returned is not the run's outcome.
  if (run.stopThrown || halted(executor, run, undefined)) throw run.stopped ?? new ShutdownError(run.workflowID);
  if (run.parked) return park(executor, run, run.parked);
  let output: string;
  try {
    output = serializeBounded(value, executor.maxOutputBytes, `The result of workflow '${run.name}'`);
  } catch (tooLarge) {
    const text = serializeError(tooLarge);
    await sysdb.completeWorkflow(run.workflowID, "ERROR", null, text);
    throw deserializeError(text, where);
  }
  // Cancelled (or timed out) just as it returned: the recorded outcome is the cancellation.
  if (!(await sysdb.completeWorkflow(run.workflowID, "SUCCESS", output, null)) && run.cancelled) throw await cancellation(run);
  return deserialize(output, where);
}

/**
 * Whether the run failed because this process stopped executing it, not by its own
 * doing: a stop thrown into it, or (while shutting down) the database closing under it.
 * Nothing is recorded then: the run stays PENDING.
 */
function halted(executor: Executor, run: WorkflowRun, error: unknown): boolean {
  if (run.stopThrown || (run.stopped && error === run.stopped)) return true;
  if (executor.closed && run.parked) return true;
  return executor.stopping && (error instanceof ShutdownError || run.parked instanceof ShutdownError);
}

/** The error a cancelled run ends with, once a timeout's cancellation is recorded. */
async function cancellation(run: WorkflowRun): Promise<WorkflowCancelledError> {
  if (!run.timedOut) return new WorkflowCancelledError(run.workflowID);
  await run.timedOut;
  return timeoutError(run);
}

/** Leaves a run that cannot go on correctly PENDING, with the reason visible; nothing recorded is touched. */
async function park(executor: Executor, run: WorkflowRun, reason: Error): Promise<never> {
  executor.logger.error(`workflow ${run.workflowID} (${run.name}) stopped and stays PENDING: ${reason.message}`);
  if (reason instanceof DatabaseConnectionError || isConnectionError(reason)) executor.interrupted.add(run.workflowID);
  await executor.sysdb.setRecoveryError(run.workflowID, `${reason.name}: ${reason.message}`).catch(() => {});
  throw reason;
}

/**
 * How a recorded run came to be resumed here: found PENDING by recovery (its owner is
 * claimed and the attempt counted), dequeued (already claimed by the dequeue), or
 * reopened by resume/fork (claimed by that).
 */
export type ResumeMode = "recover" | "dequeued" | "reopened";

/**
 * Resumes a recorded run in this process: calls its registered workflow again with the
 * recorded inputs, replaying recorded operations. Returns false when the run is not
 * running here afterwards (the reason is recorded on the run, which stays PENDING, or
 * the run was handed to a queue).
 */
export async function resumeRun(
  executor: Executor,
  row: WorkflowRow,
  mode: ResumeMode,
  /** What a batched recovery already read: the new recovery count and the recorded operations. */
  prefetched?: { attempts: number; operations: OperationRow[] },
  /** The process token the run was claimed with, when it was claimed before this call (a dequeue, a batched claim, a reopen). */
  claimedWith?: string,
): Promise<boolean> {
  if (executor.running.has(row.workflowID)) return true;
  // Shutting down, or without a lock: claim nothing (the run stays PENDING for a process that can run it).
  let token = claimedWith ?? executor.lock.token;
  if (!executor.mayExecute(token)) return false;
  const { sysdb, logger } = executor;
  // A queued run goes back to its queue, so that its queue's limits still hold.
  if (mode === "recover" && row.queueName) {
    await sysdb.requeue(row.workflowID, row.executorID, INTERNAL_QUEUE);
    return false;
  }
  const entry = workflowByName(row.name);
  if (!entry) {
    const error = new WorkflowNotRegisteredError(row.workflowID, row.name);
    logger.error(error.message);
    await sysdb.setRecoveryError(row.workflowID, `${error.name}: ${error.message}`);
    return false;
  }
  // Recovery counts an attempt as it claims the run; a run recovered through a queue had
  // it counted when it was put back (requeue), and is checked here as it is dequeued.
  let attempts: number | undefined;
  if (mode === "recover") {
    if (!prefetched) token = executor.lock.token; // the one claimForRecovery records
    attempts = prefetched?.attempts ?? (await sysdb.claimForRecovery(row.workflowID, executor.executorID, row.executorID));
    if (attempts === 0) return false; // It ended, or another executor claimed it, meanwhile.
  } else if (mode === "dequeued") {
    attempts = row.recoveryAttempts;
  }
  const maxAttempts = entry.config.maxRecoveryAttempts ?? 100;
  if (attempts !== undefined && attempts > maxAttempts) {
    await sysdb.setStatus(row.workflowID, "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "PENDING");
    logger.error(
      `workflow ${row.workflowID} (${row.name}) was recovered ${attempts - 1} times without finishing; ` +
        `parked as MAX_RECOVERY_ATTEMPTS_EXCEEDED (resume it once the cause is fixed)`,
    );
    return false;
  }
  let args: unknown;
  let operations: OperationRow[];
  try {
    args = deserialize(row.inputs, `the inputs of workflow '${row.workflowID}'`);
    operations = prefetched?.operations ?? (await sysdb.loadOperations(row.workflowID));
  } catch (error) {
    if (!(error instanceof DeserializationError)) throw error;
    logger.error(error.message);
    await sysdb.setRecoveryError(row.workflowID, `${error.name}: ${error.message}`);
    return false;
  }
  const invocation = {
    wantHandle: true,
    recover: {
      executor,
      token,
      workflowID: row.workflowID,
      operations,
      queueName: row.queueName,
      deadline: row.deadline === null ? undefined : { at: row.deadline, timeoutMS: row.timeoutMS },
      recordsReads: row.formatVersion >= RECORDS_READS,
    },
    consumed: false,
  };
  await frames.run({ invocation }, () => entry.fn.apply(entry.thisArg, (args ?? []) as never[]));
  return true;
}

/**
 * Resumes every PENDING run owned by these executors: here when this process has the
 * workflow, else through a queue for an executor that has it. Returns the IDs of the
 * runs resumed here and of those handed to a queue.
 */
export async function recoverPending(
  executor: Executor,
  executorIDs: readonly string[],
): Promise<{ resumed: string[]; queued: string[] }> {
  return recoverRows(executor, await executor.sysdb.pendingWorkflows(executorIDs));
}

/** recoverPending for PENDING runs already read: queued ones go back to their queue, the rest resume here or go to the internal queue. */
export async function recoverRows(executor: Executor, rows: readonly WorkflowRow[]): Promise<{ resumed: string[]; queued: string[] }> {
  const resumed: string[] = [];
  const queued: string[] = [];
  const here: WorkflowRow[] = [];
  for (const row of rows) {
    if (!executor.mayExecute(executor.lock.token)) break;
    const registered = workflowByName(row.name) !== undefined;
    if (row.queueName || (!registered && row.executorID !== executor.executorID)) {
      if (await executor.sysdb.requeue(row.workflowID, row.executorID, INTERNAL_QUEUE)) queued.push(row.workflowID);
    } else if (!registered || executor.running.has(row.workflowID)) {
      // resumeRun records why it cannot run an unregistered workflow, or adopts one already running.
      if (await resumeRun(executor, row, "recover")) resumed.push(row.workflowID);
    } else {
      here.push(row);
    }
  }
  // Claimed and loaded a chunk at a time: two statements per chunk, not two per run, so
  // launching with thousands of interrupted runs is quick; each chunk starts running
  // while the next one is read.
  for (let i = 0; i < here.length && executor.mayExecute(executor.lock.token); i += RECOVERY_CHUNK) {
    const chunk = here.slice(i, i + RECOVERY_CHUNK);
    const token = executor.lock.token; // the one claimManyForRecovery records
    const claimed = await executor.sysdb.claimManyForRecovery(
      chunk.map((row) => ({ workflowID: row.workflowID, previousOwner: row.executorID })),
      executor.executorID,
    );
    const operations = await executor.sysdb.loadManyOperations([...claimed.keys()]);
    for (const row of chunk) {
      const attempts = claimed.get(row.workflowID);
      if (attempts === undefined) continue; // It ended, or another executor claimed it, meanwhile.
      if (await resumeRun(executor, row, "recover", { attempts, operations: operations.get(row.workflowID)! }, token)) {
        resumed.push(row.workflowID);
      }
    }
  }
  if (rows.length > 0) {
    executor.logger.info(
      `recovery: ${rows.length} pending workflow(s): ${resumed.length} resumed here, ${queued.length} queued`,
    );
  }
  return { resumed, queued };
}

const RECOVERY_CHUNK = 500;

/** Cancels a run: it ends as CANCELLED and stops at its next durable operation, wherever it runs. */
export async function cancelWorkflow(executor: Executor, workflowID: string): Promise<boolean> {
  const local = executor.running.get(workflowID)?.run;
  if (local) local.cancelled = true;
  const cancelled = await executor.sysdb.cancelWorkflow(workflowID);
  executor.notifier.wake(channelKey(workflowID));
  return cancelled;
}

/** Sets the cancelled flag of a run of this process named by a cancel notification. */
export function onCancelNotification(executor: Executor, key: string): void {
  for (const { run } of executor.running.values()) {
    if (run && channelKey(run.workflowID) === key) run.cancelled = true;
  }
}

/**
 * Resumes a cancelled or parked run from its last recorded step: here when this
 * process has the workflow, else through the internal queue.
 */
export async function resumeWorkflow(executor: Executor, workflowID: string, options: { here?: boolean } = {}): Promise<WorkflowHandle> {
  const recorded = await executor.sysdb.getWorkflow(workflowID);
  if (!recorded) {
    throw new WorkflowNotFoundError(workflowID, `resumeWorkflow: no workflow has the ID '${workflowID}'; check the ID (stepwise workflows list).`);
  }
  // Idempotent, as in DBOS: a run that ended with a result or an error has nothing to resume.
  if (recorded.status === "SUCCESS" || recorded.status === "ERROR") return new Handle(workflowID, executor);
  if (executor.running.has(workflowID)) return new Handle(workflowID, executor);
  const here = options.here ?? workflowByName(recorded.name) !== undefined;
  const token = executor.lock.token; // the one reopenWorkflow records
  const row = await executor.sysdb.reopenWorkflow(workflowID, executor.executorID, here ? undefined : INTERNAL_QUEUE);
  // PENDING and executing in another live process: it is going on already; taking it would run it twice.
  if (!row && (await executor.sysdb.getWorkflow(workflowID))?.status === "PENDING") return new Handle(workflowID, executor);
  if (!row) {
    // It ended meanwhile; its handle reads the outcome.
    return new Handle(workflowID);
  }
  if (here) await resumeRun(executor, row, "reopened", undefined, token);
  return new Handle(workflowID, executor);
}

/**
 * Starts a new run of a recorded workflow with the same inputs, keeping the outcomes it
 * recorded before `fromFunctionID` and running everything from there.
 */
export async function forkWorkflow(
  executor: Executor,
  workflowID: string,
  fromFunctionID: number,
  options: { newWorkflowID?: string; here?: boolean } = {},
): Promise<WorkflowHandle> {
  if (!Number.isInteger(fromFunctionID) || fromFunctionID < 0) {
    throw new StepwiseError(`forkWorkflow: fromFunctionID must be a whole number, 0 or more; got ${fromFunctionID}`);
  }
  const recorded = await executor.sysdb.getWorkflow(workflowID);
  if (!recorded) throw new WorkflowNotFoundError(workflowID);
  const here = options.here ?? workflowByName(recorded.name) !== undefined;
  const newID = options.newWorkflowID ?? randomUUID();
  const token = executor.lock.token; // the one forkWorkflow records
  const row = await executor.sysdb.forkWorkflow(workflowID, newID, fromFunctionID, executor.executorID, here ? undefined : INTERNAL_QUEUE);
  if (!row) throw new WorkflowNotFoundError(workflowID);
  if (here) await resumeRun(executor, row, "reopened", undefined, token);
  return new Handle(newID, executor);
}

/**
 * Resumes the runs a database outage stopped in this process, once the database
 * answers again: a started workflow finishes without waiting for a restart.
 */
export async function resumeInterrupted(executor: Executor): Promise<void> {
  for (const workflowID of [...executor.interrupted]) {
    const row = await executor.sysdb.getWorkflow(workflowID); // throws while the database is still away
    executor.interrupted.delete(workflowID);
    if (row?.status === "PENDING" && row.executorID === executor.executorID && !executor.running.has(workflowID)) {
      await resumeRun(executor, row, "recover");
    }
  }
}
