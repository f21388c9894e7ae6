/**
 * Durable communication and time: `send`/`recv` between workflows (exactly once, FIFO
 * per topic), `setEvent`/`getEvent` (a workflow's published key-value state, latest
 * value wins), durable `sleep`, and recorded `now`/`randomUUID`. Inside a workflow each
 * is a durable operation with its own function ID, replayed from the database on
 * recovery. Waiting is woken by NOTIFY (see notifier.ts).
 *
 * A wait with a timeout (`recv`, `getEvent` in a workflow) takes two function IDs: the
 * first records the deadline, so a run recovered mid-wait waits only for what is left of
 * it; the second records what the wait returned. (DBOS takes two in the other order;
 * changing ours would break the replay of recorded runs.)
 */
import { randomUUID as cryptoRandomUUID } from "node:crypto";
import type { WorkflowRun } from "./context.js";
import { ConfigError, StepwiseError, WorkflowCancelledError, WorkflowNotFoundError } from "./errors.js";
import { requireExecutor, type Executor } from "./executor.js";
import {
  AlreadyRecorded,
  nextOperation,
  operationRow,
  parkOnFailure,
  recordInTransaction,
  throwIfStopped,
  workflowOperationContext,
} from "./operations.js";
import { checkIdentifier } from "./identifiers.js";
import { deserialize, serialize, serializeError, serializeStrict } from "./serialize.js";
import { materialize, resolveStepConfig, runStep, sleep as plainSleep } from "./step.js";
import { channelKey, WAKE_CHANNEL } from "./sysdb/system-database.js";
import { traceOperation, type Span } from "./tracing.js";

const DEFAULT_TIMEOUT_SECONDS = 60;
const SLEEP = "Stepwise.sleep";

/** Sends a message to a workflow's inbox, on a topic. Exactly once, also when the sender is replayed. */
export async function send(destinationID: string, message: unknown, topic?: string): Promise<void> {
  checkIdentifier(destinationID, "Stepwise.send: destinationID");
  checkIdentifier(topic, "Stepwise.send: topic");
  const run = workflowOperationContext("Stepwise.send", "SW1002");
  const text = serializeStrict(message, "the message");
  const op = run ? nextOperation(run, "Stepwise.send") : undefined;
  if (op?.recorded) return materialize<void>(run!, op.recorded);
  const deliver = () => deliverMessage(run, op?.functionID, destinationID, text, topic);
  return run ? traceOperation(run, "Stepwise.send", op!.functionID, { "stepwise.destination_id": destinationID, "stepwise.topic": topic ?? "" }, deliver) : deliver();
}

async function deliverMessage(run: WorkflowRun | undefined, functionID: number | undefined, destinationID: string, text: string, topic?: string): Promise<void> {
  const executor = run?.executor ?? requireExecutor();
  const { sysdb } = executor;
  const startedAt = Date.now();
  try {
    await sysdb.driver.transaction(async (tx) => {
      if (!(await sysdb.insertMessage(tx, destinationID, topic ?? null, text))) {
        throw new WorkflowNotFoundError(
          destinationID,
          `Stepwise.send: no workflow has the ID '${destinationID}'. A message can only be sent to a workflow ` +
            `that was started; check the ID, or start the workflow first.`,
        );
      }
      await sysdb.notify(WAKE_CHANNEL, channelKey("message", destinationID, topic ?? null), tx);
      if (run) await recordInTransaction(sysdb, tx, { ...operationRow(run, functionID!, "Stepwise.send", startedAt), output: serialize(undefined) });
    });
  } catch (error) {
    if (error instanceof AlreadyRecorded) return materialize<void>(run!, error.row);
    if (!run || !(error instanceof StepwiseError)) return run ? parkOnFailure(run, error) : Promise.reject(error);
    // A refused send is recorded too, so a replay refuses it the same way.
    await record(executor, run, functionID!, "Stepwise.send", startedAt, { error });
    throw error;
  }
}

/**
 * Takes the oldest message sent to this workflow on a topic, waiting up to
 * `timeoutSeconds` (default 60) for one; null when none came in time.
 */
export async function recv<T = unknown>(topic?: string, timeoutSeconds = DEFAULT_TIMEOUT_SECONDS): Promise<T | null> {
  checkIdentifier(topic, "Stepwise.recv: topic");
  const run = workflowOperationContext("Stepwise.recv", "SW1002");
  if (!run) throw new StepwiseError("Stepwise.recv can only be called in a workflow: it reads that workflow's inbox.");
  const deadlineOp = nextOperation(run, SLEEP);
  const op = nextOperation(run, "Stepwise.recv");
  if (op.recorded) return materialize<T | null>(run, op.recorded);
  const attributes = { "stepwise.topic": topic ?? "", "stepwise.timeout_seconds": timeoutSeconds };
  return traceOperation(run, "Stepwise.recv", op.functionID, attributes, (span) => receive<T>(run, deadlineOp, op.functionID, topic, timeoutSeconds, span));
}

async function receive<T>(
  run: WorkflowRun,
  deadlineOp: ReturnType<typeof nextOperation>,
  functionID: number,
  topic: string | undefined,
  timeoutSeconds: number,
  span: Span | undefined,
): Promise<T | null> {
  const { executor } = run;
  const { sysdb } = executor;
  const deadline = await durableDeadline(executor, run, deadlineOp, timeoutSeconds * 1000);
  const startedAt = Date.now();
  const key = channelKey("message", run.workflowID, topic ?? null);
  for (;;) {
    const watch = executor.notifier.watch(key, channelKey(run.workflowID));
    try {
      let taken: string | null;
      try {
        taken = await sysdb.driver.transaction(async (tx) => {
          const message = await sysdb.takeMessage(tx, run.workflowID, topic ?? null);
          // Consuming the message and recording it commit together: delivered exactly once.
          if (message !== null) {
            await recordInTransaction(sysdb, tx, { ...operationRow(run, functionID, "Stepwise.recv", startedAt), output: message });
          }
          return message;
        });
      } catch (error) {
        if (error instanceof AlreadyRecorded) return materialize<T | null>(run, error.row);
        return parkOnFailure(run, error);
      }
      if (taken !== null) return deserialize(taken, `a message to workflow '${run.workflowID}'`) as T;
      if (Date.now() >= deadline) {
        span?.setAttribute("stepwise.timed_out", true);
        return record(executor, run, functionID, "Stepwise.recv", startedAt, { output: null });
      }
      throwIfStopped(run);
      if (run.cancelled) throw new WorkflowCancelledError(run.workflowID);
      await watch.wait(deadline);
      throwIfStopped(run);
    } finally {
      watch.close();
    }
  }
}

/** Publishes a key-value pair of this workflow's state; the latest value wins. */
export async function setEvent(key: string, value: unknown): Promise<void> {
  checkIdentifier(key, "Stepwise.setEvent: key");
  const run = workflowOperationContext("Stepwise.setEvent", "SW1002");
  if (!run) throw new StepwiseError("Stepwise.setEvent can only be called in a workflow: events belong to a workflow.");
  const text = serializeStrict(value, "the event value");
  const op = nextOperation(run, "Stepwise.setEvent");
  if (op.recorded) return materialize<void>(run, op.recorded);
  return traceOperation(run, "Stepwise.setEvent", op.functionID, { "stepwise.event_key": key }, () => publishEvent(run, op.functionID, key, text));
}

async function publishEvent(run: WorkflowRun, functionID: number, key: string, text: string): Promise<void> {
  const { sysdb } = run.executor;
  const startedAt = Date.now();
  try {
    await sysdb.driver.transaction(async (tx) => {
      await sysdb.upsertEvent(tx, run.workflowID, key, text, functionID);
      await sysdb.notify(WAKE_CHANNEL, channelKey("event", run.workflowID, key), tx);
      await recordInTransaction(sysdb, tx, { ...operationRow(run, functionID, "Stepwise.setEvent", startedAt), output: serialize(undefined) });
    });
  } catch (error) {
    if (error instanceof AlreadyRecorded) return materialize<void>(run, error.row);
    parkOnFailure(run, error);
  }
}

/**
 * Reads a workflow's event, waiting up to `timeoutSeconds` (default 60) for it to be
 * set; null when it was not set in time. In a workflow, what it returned is recorded.
 */
export async function getEvent<T = unknown>(
  workflowID: string,
  key: string,
  timeoutSeconds = DEFAULT_TIMEOUT_SECONDS,
): Promise<T | null> {
  checkIdentifier(workflowID, "Stepwise.getEvent: workflowID");
  checkIdentifier(key, "Stepwise.getEvent: key");
  const run = workflowOperationContext("Stepwise.getEvent", "SW1002");
  const deadlineOp = run ? nextOperation(run, SLEEP) : undefined;
  const op = run ? nextOperation(run, "Stepwise.getEvent") : undefined;
  if (op?.recorded) return materialize<T | null>(run!, op.recorded);
  const wait = (span: Span | undefined) => awaitEvent<T>(run, deadlineOp, op?.functionID, workflowID, key, timeoutSeconds, span);
  const attributes = { "stepwise.target_workflow_id": workflowID, "stepwise.event_key": key, "stepwise.timeout_seconds": timeoutSeconds };
  return run ? traceOperation(run, "Stepwise.getEvent", op!.functionID, attributes, wait) : wait(undefined);
}

async function awaitEvent<T>(
  run: WorkflowRun | undefined,
  deadlineOp: ReturnType<typeof nextOperation> | undefined,
  functionID: number | undefined,
  workflowID: string,
  key: string,
  timeoutSeconds: number,
  span: Span | undefined,
): Promise<T | null> {
  const executor = run?.executor ?? requireExecutor();
  const deadline = run
    ? await durableDeadline(executor, run, deadlineOp!, timeoutSeconds * 1000)
    : Date.now() + timeoutSeconds * 1000;
  const startedAt = Date.now();
  const wakeKeys = [channelKey("event", workflowID, key), ...(run ? [channelKey(run.workflowID)] : [])];
  for (;;) {
    const watch = executor.notifier.watch(...wakeKeys);
    try {
      let value: string | null;
      try {
        value = await executor.sysdb.getEvent(workflowID, key);
      } catch (error) {
        return run ? parkOnFailure(run, error) : Promise.reject(error);
      }
      if (value !== null || Date.now() >= deadline) {
        if (!run) return value === null ? null : (deserialize(value, `event '${key}' of workflow '${workflowID}'`) as T);
        if (value === null) span?.setAttribute("stepwise.timed_out", true);
        const row = { ...operationRow(run, functionID!, "Stepwise.getEvent", startedAt), output: value ?? serialize(null) };
        return recordRow<T | null>(executor, run, row);
      }
      if (run) throwIfStopped(run);
      if (run?.cancelled) throw new WorkflowCancelledError(run.workflowID);
      await watch.wait(deadline);
      if (run) throwIfStopped(run);
    } finally {
      watch.close();
    }
  }
}

/**
 * Sleeps for `ms` milliseconds. In a workflow the wake-up time is recorded first, so a
 * run recovered mid-sleep sleeps only the remainder.
 */
export async function sleep(ms: number): Promise<void> {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new ConfigError(`Stepwise.sleep(ms) needs a finite number of milliseconds, 0 or more; got ${String(ms)}`);
  }
  const run = workflowOperationContext("Stepwise.sleep", "SW1002");
  if (!run) return plainSleep(ms);
  const op = nextOperation(run, SLEEP);
  const { executor } = run;
  // A replay past its wake-up time did not sleep now, and makes no span.
  if (op.recorded && Date.now() >= materialize<number>(run, op.recorded)) return;
  // The span covers what this process does: a new sleep records its wake-up time and waits
  // (however short the wait left after that), a run recovered mid-sleep waits only the rest.
  return traceOperation(run, SLEEP, op.functionID, { "stepwise.sleep_ms": ms }, async (span) => {
    const wakeAt = await durableDeadline(executor, run, op, ms);
    span?.setAttribute("stepwise.wake_at", wakeAt);
    const watch = executor.notifier.watch(channelKey(run.workflowID));
    try {
      while (Date.now() < wakeAt) {
        throwIfStopped(run);
        if (run.cancelled) throw new WorkflowCancelledError(run.workflowID);
        await watch.wait(wakeAt);
      }
    } finally {
      watch.close();
    }
  });
}

const nowConfig = resolveStepConfig({ name: "Stepwise.now" });
const uuidConfig = resolveStepConfig({ name: "Stepwise.randomUUID" });

/** The current time in epoch ms; in a workflow, recorded, so a replay sees the same instant. */
export function now(): Promise<number> {
  return runStep(nowConfig, async () => Date.now());
}

/** A random UUID; in a workflow, recorded, so a replay sees the same one. */
export function randomUUID(): Promise<string> {
  return runStep(uuidConfig, async () => cryptoRandomUUID());
}

/** The deadline recorded at this operation, or now + ms, recorded for replays. */
async function durableDeadline(
  executor: Executor,
  run: WorkflowRun,
  op: ReturnType<typeof nextOperation>,
  ms: number,
): Promise<number> {
  if (op.recorded) return materialize<number>(run, op.recorded);
  const startedAt = Date.now();
  const row = { ...operationRow(run, op.functionID, SLEEP, startedAt), output: serialize(startedAt + ms) };
  return recordRow<number>(executor, run, row);
}

async function record<T>(
  executor: Executor,
  run: WorkflowRun,
  functionID: number,
  stepID: string,
  startedAt: number,
  outcome: { output: unknown } | { error: unknown },
): Promise<T> {
  const row = operationRow(run, functionID, stepID, startedAt);
  if ("error" in outcome) row.error = serializeError(outcome.error);
  else row.output = serialize(outcome.output);
  return recordRow<T>(executor, run, row);
}

/**
 * Records an operation's row on its own (not inside a transaction) and returns its value:
 * the one recorded first, when another executor replaying the run got there before.
 */
export async function recordRow<T>(executor: Executor, run: WorkflowRun, row: ReturnType<typeof operationRow>): Promise<T> {
  let existing;
  try {
    existing = await executor.sysdb.recordOperation(row);
  } catch (error) {
    return parkOnFailure(run, error);
  }
  return materialize<T>(run, existing ?? row);
}
