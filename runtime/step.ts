/**
 * Running a step: retries with backoff, per-attempt timeouts, and inside a workflow the
 * checkpoint. On the normal path a step inside a workflow costs exactly one INSERT of
 * its outcome after it returns; a replayed step costs nothing (its outcome was loaded
 * with the run).
 */
import type { StepConfig } from "./config.js";
import { frames, type Frame, type StepStatus, type WorkflowRun } from "./context.js";
import { MaxStepRetriesError, NonRetryableError, StepTimeoutError, StepwiseError } from "./errors.js";
import { currentExecutor } from "./executor.js";
import { nextOperation } from "./operations.js";
import { consoleLogger } from "./logger.js";
import { deserialize, deserializeError, serializeBounded, serializeError } from "./serialize.js";
import type { OperationRow } from "./sysdb/system-database.js";
import { endStepSpan, inSpan, startStepSpan } from "./tracing.js";
import { at, delay } from "./timer.js";

export interface ResolvedStepConfig {
  name: string;
  retriesAllowed: boolean;
  maxAttempts: number;
  intervalSeconds: number;
  backoffRate: number;
  maxIntervalSeconds: number;
  timeoutMS: number | undefined;
}

export function resolveStepConfig(config: StepConfig & { name: string }): ResolvedStepConfig {
  return {
    name: config.name,
    retriesAllowed: config.retriesAllowed ?? false,
    maxAttempts: config.maxAttempts ?? 3,
    intervalSeconds: config.intervalSeconds ?? 1,
    backoffRate: config.backoffRate ?? 2,
    maxIntervalSeconds: config.maxIntervalSeconds ?? Infinity,
    timeoutMS: config.timeoutMS,
  };
}

/** Runs a step where it is called: checkpointed in a workflow, plainly outside one. */
export function runStep<T>(config: ResolvedStepConfig, body: () => Promise<T>): Promise<T> {
  const frame = frames.getStore();
  // A step called by a step is part of the outer step: no checkpoint, no retries of its own.
  if (frame?.step) return body();
  // Its retries and checkpoint cannot take part in the database transaction's rollback.
  if (frame?.transaction) {
    return Promise.reject(
      new StepwiseError(
        `SW1001: step '${config.name}' was called inside transaction '${frame.transaction.name}'. ` +
          `A transaction cannot call a step: call the step from the workflow body, before or after the transaction.`,
      ),
    );
  }
  const run = frame?.workflow;
  if (!run) {
    return attempt(config, frame, undefined, body).then(
      (outcome) => outcome.value,
      (failure: AttemptFailure) => Promise.reject(failure.error),
    );
  }
  // Taken before any await, so concurrent steps get IDs in call order.
  let op: ReturnType<typeof nextOperation>;
  try {
    op = nextOperation(run, config.name);
    if (op.recorded) return Promise.resolve(materialize<T>(run, op.recorded));
  } catch (error) {
    return Promise.reject(error);
  }
  // Tracked, so that a shutdown lets it finish and record its outcome.
  return run.executor.track(executeAndRecord(run, op.functionID, config, frame, body));
}

async function executeAndRecord<T>(
  run: WorkflowRun,
  functionID: number,
  config: ResolvedStepConfig,
  frame: Frame,
  body: () => Promise<T>,
): Promise<T> {
  const { executor } = run;
  const startedAt = Date.now();
  const row: OperationRow = {
    workflowID: run.workflowID,
    functionID,
    stepID: config.name,
    output: null,
    error: null,
    attempts: 0,
    childWorkflowID: null,
    startedAt,
    completedAt: 0,
  };
  try {
    const outcome = await attempt(config, frame, functionID, body);
    row.attempts = outcome.attempts;
    try {
      row.output = serializeBounded(outcome.value, executor.maxOutputBytes, `The result of step '${config.name}'`);
    } catch (tooLarge) {
      row.error = serializeError(tooLarge);
    }
  } catch (failure) {
    const { error, attempts } = failure as AttemptFailure;
    row.error = serializeError(error);
    row.attempts = attempts;
  }
  row.completedAt = Date.now();
  let recorded: OperationRow | null;
  try {
    recorded = await executor.sysdb.recordOperation(row);
  } catch (error) {
    // The outcome could not be saved: the run must not go on as if it had been.
    run.parked ??= error as Error;
    throw error;
  }
  // Another executor recorded this operation first: its outcome is the one that counts.
  return materialize<T>(run, recorded ?? row);
}

/** The value (or error) a recorded row stands for: what the first run and every replay see alike. */
export function materialize<T>(run: WorkflowRun, row: OperationRow): T {
  const where = `workflow '${row.workflowID}', function ID ${row.functionID} (${row.stepID})`;
  let value: unknown;
  try {
    if (row.error !== null) value = deserializeError(row.error, where);
    else value = deserialize(row.output, where);
  } catch (unreadable) {
    run.parked ??= unreadable as Error;
    throw unreadable;
  }
  if (row.error !== null) throw value;
  return value as T;
}

interface AttemptFailure {
  error: unknown;
  attempts: number;
}

/** Runs the body with the step's retry policy; rejects with an AttemptFailure. */
async function attempt<T>(
  config: ResolvedStepConfig,
  frame: Frame | undefined,
  functionID: number | undefined,
  body: () => Promise<T>,
): Promise<{ value: T; attempts: number }> {
  const maxAttempts = config.retriesAllowed ? config.maxAttempts : 1;
  const errors: unknown[] = [];
  let intervalSeconds = config.intervalSeconds;
  for (let attemptNumber = 1; ; attemptNumber++) {
    // Made only when a timeout needs it or the step reads its signal: most steps never do.
    let controller: AbortController | undefined = config.timeoutMS === undefined ? undefined : new AbortController();
    const status: StepStatus = {
      currentAttempt: attemptNumber,
      maxAttempts,
      get signal() {
        return (controller ??= new AbortController()).signal;
      },
    };
    const stepFrame: Frame = { ...frame, invocation: undefined, step: { stepID: config.name, functionID, status } };
    const span = startStepSpan(frame?.workflow, config.name, functionID, attemptNumber, maxAttempts);
    try {
      const value = await frames.run(stepFrame, inSpan(span, () => withTimeout(config, controller!, body)));
      endStepSpan(span, "success");
      return { value, attempts: attemptNumber };
    } catch (error) {
      endStepSpan(span, "error", error);
      errors.push(error);
      if (!config.retriesAllowed || error instanceof NonRetryableError) {
        throw { error, attempts: attemptNumber } satisfies AttemptFailure;
      }
      if (attemptNumber >= maxAttempts) {
        throw { error: new MaxStepRetriesError(config.name, attemptNumber, errors), attempts: attemptNumber } satisfies AttemptFailure;
      }
      const delaySeconds = Math.min(intervalSeconds, config.maxIntervalSeconds);
      logger().warn(
        `${where(frame)}step '${config.name}' attempt ${attemptNumber}/${maxAttempts} failed` +
          `${error instanceof Error ? ` (${error.name}: ${error.message})` : ""}; retrying in ${delaySeconds}s`,
      );
      await sleep(delaySeconds * 1000);
      intervalSeconds *= config.backoffRate;
    }
  }
}

function withTimeout<T>(config: ResolvedStepConfig, controller: AbortController, body: () => Promise<T>): Promise<T> {
  if (config.timeoutMS === undefined) return body();
  const timeoutMS = config.timeoutMS;
  return new Promise<T>((resolve, reject) => {
    // timer.at, not setTimeout: a timeout past 2^31-1 ms would fire at once.
    const cancel = at(Date.now() + timeoutMS, () => {
      const error = new StepTimeoutError(config.name, timeoutMS);
      controller.abort(error);
      reject(error);
    });
    body().then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error) => {
        cancel();
        reject(error);
      },
    );
  });
}

function where(frame: Frame | undefined): string {
  return frame?.workflow ? `workflow ${frame.workflow.workflowID}: ` : "";
}

function logger() {
  return currentExecutor()?.logger ?? fallbackLogger;
}
const fallbackLogger = consoleLogger();

/** A plain (not durable) wait, also for a retry interval past setTimeout's limit. */
export const sleep = delay;
