/**
 * Starting a run by its workflow's name, from code that does not define the workflow (a
 * web service in front of workers, the CLI): the run is recorded ENQUEUED on a queue, and
 * a process that defines the workflow and listens to that queue runs it.
 */
import { randomUUID } from "node:crypto";
import { frames } from "./context.js";
import { ConfigError, StepwiseError, WorkflowConflictError } from "./errors.js";
import type { Executor } from "./executor.js";
import type { Queue } from "./queue.js";
import { checkIdentifier } from "./identifiers.js";
import { serializeStrict } from "./serialize.js";
import { INTERNAL_QUEUE, type QueuePlacement } from "./sysdb/system-database.js";
import { handleFor, type WorkflowHandle } from "./workflow.js";

/** Where and how a started run waits, and its timeout: the options of startWorkflow and enqueue. */
export interface StartWorkflowOptions {
  /** The run's ID, and its idempotency key: starting an ID that exists returns that run. */
  workflowID?: string;
  /** Enqueue the run on this queue instead of starting it now. */
  queue?: Queue | string;
  /** With `queue`: refuse (QueueDeduplicatedError) while a run with this ID waits or runs in that queue. */
  deduplicationID?: string;
  /** With `queue`: lower runs first (default 0; a whole number from 0 to 2^31-1). */
  priority?: number;
  /**
   * Cancel the run (and its child workflows, which inherit the deadline) if it has not
   * ended this many ms after it starts executing; for a queued run, after it is dequeued.
   * The deadline is stored with the run and holds across restarts. It stops the run at
   * its next durable operation (a step in progress finishes first); its result throws
   * WorkflowTimeoutError. Default: no timeout.
   */
  timeoutMS?: number;
}

/** The highest queue priority: the column is a Postgres integer. */
export const MAX_PRIORITY = 2 ** 31 - 1;

/** Checks placement options and returns the queue placement (undefined: no queue); throws ConfigError naming `caller`. */
export function placementOf(options: StartWorkflowOptions, caller: string): QueuePlacement | undefined {
  checkIdentifier(options.workflowID, `${caller}: workflowID`);
  checkIdentifier(options.deduplicationID, `${caller}: deduplicationID`);
  if (typeof options.queue === "string") checkIdentifier(options.queue, `${caller}: queue`);
  if ((options.deduplicationID !== undefined || options.priority !== undefined) && options.queue === undefined) {
    throw new ConfigError(`${caller}: deduplicationID and priority apply to queued runs; give a queue too.`);
  }
  if (options.timeoutMS !== undefined && !(Number.isFinite(options.timeoutMS) && options.timeoutMS > 0)) {
    throw new ConfigError(`${caller}: timeoutMS must be a number of milliseconds above 0, got ${options.timeoutMS}`);
  }
  if (options.priority !== undefined && !(Number.isInteger(options.priority) && options.priority >= 0 && options.priority <= MAX_PRIORITY)) {
    throw new ConfigError(`${caller}: priority must be a whole number from 0 to ${MAX_PRIORITY} (lower runs first), got ${options.priority}`);
  }
  if (options.queue === undefined) return undefined;
  return {
    queueName: typeof options.queue === "string" ? options.queue : options.queue.name,
    deduplicationID: options.deduplicationID,
    priority: options.priority,
  };
}

/** Records a run of the workflow named `name`, ENQUEUED on `options.queue` (default: the internal queue). */
export async function enqueueByName<T>(
  executor: Executor,
  name: string,
  options: StartWorkflowOptions,
  args: unknown[],
): Promise<WorkflowHandle<T>> {
  if (typeof name !== "string" || name === "") throw new ConfigError("Stepwise.enqueue needs the workflow's name.");
  checkIdentifier(name, "Stepwise.enqueue: the workflow's name");
  const frame = frames.getStore();
  if (frame?.workflow || frame?.step || frame?.transaction) {
    throw new StepwiseError(
      `Stepwise.enqueue('${name}') was called inside a workflow, step or transaction, where it would not be recorded: ` +
        `call the workflow there, or Stepwise.startWorkflow(wf, { queue }).`,
    );
  }
  const queue = placementOf(options, "Stepwise.enqueue") ?? { queueName: INTERNAL_QUEUE };
  const workflowID = options.workflowID ?? randomUUID();
  const outcome = await executor.sysdb.insertWorkflow(
    {
      workflowID,
      name,
      inputs: serializeStrict(args, `the inputs of workflow '${name}'`),
      executorID: executor.executorID,
      timeoutMS: options.timeoutMS ?? null,
    },
    queue,
  );
  if (!outcome.created && outcome.existing.name !== name) throw new WorkflowConflictError(workflowID, outcome.existing.name, name);
  return handleFor<T>(workflowID);
}
