/**
 * Workflow timeouts. A run started with `timeoutMS` gets a deadline when it starts
 * executing (at dequeue for a queued run); its child workflows inherit it. The deadline
 * is stored with the run, so it holds across restarts: the process running the run keeps
 * a timer, and a run recovered after its deadline is cancelled at once. Reaching it
 * cancels the run the way `cancelWorkflow` does (it stops at its next durable operation,
 * and a wait in sleep/recv/getEvent wakes), with a WorkflowTimeoutError as its outcome.
 */
import type { WorkflowRun } from "./context.js";
import { WorkflowTimeoutError } from "./errors.js";
import type { Executor } from "./executor.js";
import { serializeError } from "./serialize.js";
import { channelKey } from "./sysdb/system-database.js";
import { at } from "./timer.js";

/** The run's deadline: the sooner of its own timeout (from now) and an inherited one. */
export function deadlineFor(timeoutMS: number | undefined, inherited: WorkflowRun["deadline"], now = Date.now()): WorkflowRun["deadline"] {
  const own = timeoutMS === undefined ? undefined : { at: now + timeoutMS, timeoutMS };
  if (!own) return inherited && { at: inherited.at, timeoutMS: null };
  return inherited && inherited.at < own.at ? { at: inherited.at, timeoutMS: null } : own;
}

export function timeoutError(run: WorkflowRun): WorkflowTimeoutError {
  return new WorkflowTimeoutError(run.workflowID, run.deadline?.timeoutMS ?? null, run.deadline?.at ?? Date.now());
}

/** Arms the run's deadline in this process; returns what disarms it (the run ended, or shutdown). */
export function watchDeadline(executor: Executor, run: WorkflowRun): () => void {
  const deadline = run.deadline;
  if (!deadline) return () => {};
  let cancel = () => {};
  const disarm = () => {
    cancel();
    executor.deadlines.delete(disarm);
  };
  executor.deadlines.add(disarm);
  cancel = at(deadline.at, () => {
    disarm();
    timeOut(executor, run);
  });
  return disarm;
}

/**
 * Whether the run has reached its deadline, cancelling it now if its timer has not yet:
 * a run that fails just after its deadline (say, with its child's WorkflowTimeoutError,
 * the child's timer having fired first) timed out; it did not fail.
 */
export function reachedDeadline(executor: Executor, run: WorkflowRun): boolean {
  if (run.timedOut) return true;
  if (!run.deadline || Date.now() < run.deadline.at) return false;
  timeOut(executor, run);
  return true;
}

function timeOut(executor: Executor, run: WorkflowRun): void {
  run.cancelled = true;
  // The run's own ending waits for this, so that its recorded status is CANCELLED by the time its result is.
  run.timedOut = executor.sysdb.cancelWorkflow(run.workflowID, serializeError(timeoutError(run))).then(
    () => undefined,
    (error: Error) => {
      // The run stops here anyway; a process that recovers it later sees the deadline passed and cancels it then.
      executor.logger.warn(`workflow ${run.workflowID} reached its deadline, and recording its cancellation failed: ${error.message}`);
    },
  );
  executor.notifier.wake(channelKey(run.workflowID));
}
