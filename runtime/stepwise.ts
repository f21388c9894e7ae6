/**
 * `Stepwise`: the static facade users call. Launch and shut down, start and find
 * workflows, read what a run recorded, and the context of the code running now.
 */
import type { StepConfig } from "./config.js";
import { frames, type StepStatus } from "./context.js";
import { ConfigError, StepwiseError } from "./errors.js";
import { checkIdentifier } from "./identifiers.js";
import { currentExecutor, Executor, requireExecutor, setExecutor, type LaunchConfig } from "./executor.js";
import { consoleLogger, prefixed, type Logger } from "./logger.js";
import { step } from "./markers.js";
import { workflowOf } from "./registry.js";
import { deserialize, deserializeError, registerClass, registerErrorClass } from "./serialize.js";
import type { DashboardOptions } from "./dashboard/server.js";
import type { Queryable } from "./sysdb/driver.js";
import type { WorkflowFilter } from "./sysdb/system-database.js";
import { currentSql } from "./transaction.js";
import { getEvent, now, randomUUID, recv, send, setEvent, sleep } from "./messaging.js";
import { QueueDispatcher } from "./queue.js";
import { loadTracing } from "./tracing.js";
import { deprecatePatch, patched } from "./patching.js";
import { recordedRead } from "./reads.js";
import { every } from "./timer.js";
import { transformHint } from "./transform-hint.js";
import { startLiveness } from "./liveness.js";
import { enqueueByName, placementOf, type StartWorkflowOptions } from "./enqueue.js";
import { defineSchedule, startSchedules, type ScheduleOptions } from "./schedule.js";
import { checkRetentionSchedule, deleteWorkflow, garbageCollect, startRetention, type GarbageCollectOptions } from "./retention.js";
import {
  cancelWorkflow,
  forkWorkflow,
  handleFor,
  onCancelNotification,
  recoverPending,
  resumeInterrupted,
  resumeWorkflow,
  toStatus,
  type WorkflowHandle,
  type WorkflowStatus,
} from "./workflow.js";

export type { StartWorkflowOptions };
/** Stepwise.enqueue's options: startWorkflow's; the queue defaults to the internal one. */
export type EnqueueOptions = StartWorkflowOptions;

/** One recorded operation of a run, as `listWorkflowSteps` returns it. */
export interface StepInfo {
  functionID: number;
  stepID: string;
  /** The recorded output (undefined when the operation failed). */
  output: unknown;
  /** The recorded error, as its own class, or null. */
  error: Error | null;
  attempts: number;
  childWorkflowID: string | null;
  startedAt: Date;
  completedAt: Date;
}

/** Inside a run, the executor running it (still there while it shuts down); else the launched one. */
function executorHere(): Executor {
  return frames.getStore()?.workflow?.executor ?? requireExecutor();
}

async function readWorkflowSteps(workflowID: string): Promise<StepInfo[]> {
  const rows = await executorHere().sysdb.loadOperations(workflowID);
  return rows.map((row) => {
    const where = `workflow '${workflowID}', function ID ${row.functionID}`;
    return {
      functionID: row.functionID,
      stepID: row.stepID,
      output: row.error === null ? deserialize(row.output, where) : undefined,
      error: row.error === null ? null : deserializeError(row.error, where),
      attempts: row.attempts,
      childWorkflowID: row.childWorkflowID,
      startedAt: new Date(row.startedAt),
      completedAt: new Date(row.completedAt),
    };
  });
}

type AsyncFn = (...args: any[]) => Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const defaultLogger = consoleLogger();

/** Starts the dashboard for `launch({ dashboard })`; its code is loaded only then. */
async function startDashboard(executor: Executor, options: DashboardOptions): Promise<void> {
  try {
    const dashboard = await (await import("./dashboard/server.js")).startDashboard(options);
    executor.stopHooks.unshift(() => dashboard.close());
    executor.logger.info(`dashboard on http://${dashboard.host}:${dashboard.port}/`);
  } catch (error) {
    await Stepwise.shutdown();
    throw error;
  }
}

export class Stepwise {
  private constructor() {}

  /**
   * Opens the system database (migrating it), and resumes every PENDING run this
   * executor owns. The database is `config.databaseUrl`, else env STEPWISE_DATABASE_URL,
   * else the embedded database in ./.stepwise.
   */
  static async launch(config: LaunchConfig = {}): Promise<void> {
    if (currentExecutor()) throw new StepwiseError("Stepwise is already launched; call Stepwise.shutdown() first.");
    checkRetentionSchedule(config.retention);
    await loadTracing();
    const executor = await Executor.open(config);
    setExecutor(executor);
    executor.logger.debug(`launched on the ${executor.sysdb.description} as executor '${executor.executorID}'`);
    executor.notifier.onCancel = (key) => onCancelNotification(executor, key);
    if (config.recover !== false) await startLiveness(executor, config.executorTimeoutSeconds ?? 60);
    const dispatcher = new QueueDispatcher(executor, config.listenQueues);
    executor.stopHooks.push(() => dispatcher.stop());
    // Runs a database outage stopped here resume once it answers again.
    executor.stopHooks.push(
      every(5000, 5000, async () => {
        if (executor.interrupted.size > 0) await resumeInterrupted(executor);
      }),
    );
    if (config.retention) startRetention(executor, config.retention);
    startSchedules(executor);
    if (config.dashboard) await startDashboard(executor, config.dashboard === true ? {} : config.dashboard);
    // Work starts last, once everything it may need is installed: a launch that fails
    // above leaves no run half-started, and a shutdown meanwhile finds nothing to stop.
    if (config.recover !== false) await recoverPending(executor, [executor.executorID]);
    dispatcher.start();
  }

  /**
   * A graceful drain: stops dequeuing and recovering at once; lets the steps executing
   * now finish and record their outcome for up to `shutdownTimeoutMS` (default 10 s);
   * every run still held here stops at its next durable operation and stays PENDING
   * (nothing is recorded as its outcome), to resume at the next launch or in another
   * live process. Then closes the databases. Handles made here then reject with
   * ShutdownError for runs that have not ended.
   */
  static async shutdown(): Promise<void> {
    const executor = currentExecutor();
    if (!executor) return;
    try {
      await executor.shutdown();
    } finally {
      if (currentExecutor() === executor) setExecutor(undefined);
    }
  }

  /** Starts a workflow and returns its handle without waiting for the result. */
  static startWorkflow<F extends AsyncFn>(
    wf: F,
    options: StartWorkflowOptions = {},
  ): (...args: Parameters<F>) => Promise<WorkflowHandle<Awaited<ReturnType<F>>>> {
    const registered = workflowOf(wf);
    if (!registered) {
      const name = typeof wf === "function" && wf.name ? wf.name : "this function";
      throw new StepwiseError(
        `startWorkflow() got ${name}, which is not a workflow. If it is tagged /** @workflow */, the Stepwise transformer did not run ` +
          `on its file, so it is plain code and nothing in it is durable: ${transformHint()}. Otherwise wrap it with workflow(fn, { name }).`,
      );
    }
    const queue = placementOf(options, "startWorkflow");
    return (...args) => {
      const invocation = { workflowID: options.workflowID, wantHandle: true, consumed: false, queue, timeoutMS: options.timeoutMS };
      const frame = frames.getStore();
      return frames.run({ ...frame, invocation }, () =>
        Promise.resolve(registered.fn.apply(registered.thisArg, args as unknown as never[])),
      ) as Promise<WorkflowHandle<Awaited<ReturnType<F>>>>;
    };
  }

  /**
   * Enqueues a run of the workflow registered as `workflowName`, from code that does not
   * define it (a web service in front of its workers): recorded ENQUEUED on
   * `options.queue` (default: the internal queue every executor listens to), it is run by
   * a process that defines the workflow. Not for workflow code: there, call the workflow.
   */
  static enqueue<T = unknown>(workflowName: string, options: EnqueueOptions = {}, ...args: unknown[]): Promise<WorkflowHandle<T>> {
    return enqueueByName<T>(requireExecutor(), workflowName, options, args);
  }

  /**
   * Runs `wf` at each tick of a cron expression, with the tick's time as its argument:
   * `Stepwise.schedule(nightly, { cron: "0 3 * * *", timezone: "Europe/Berlin" })`.
   * Define it once per workflow, where the workflow is defined; every launched process
   * that defines it fires it, and each tick is one run (ID `schedule:<name>:<ISO time>`),
   * whichever process records it first. Ticks while no process is up are skipped, unless
   * `catchUp` (then the next launch runs up to 100 of them).
   */
  static schedule<F extends (scheduledAt: Date) => Promise<unknown>>(wf: F, options: ScheduleOptions): void {
    defineSchedule(wf, options);
  }

  /** A handle on a recorded run (its status is null when no run has this ID). */
  static retrieveWorkflow<T = unknown>(workflowID: string): WorkflowHandle<T> {
    checkIdentifier(workflowID, "Stepwise.retrieveWorkflow: workflowID");
    return handleFor<T>(workflowID);
  }

  /** A run's status, or null when no run has this ID. In a workflow, recorded: a replay sees what the first run saw. */
  static async getWorkflowStatus(workflowID: string): Promise<WorkflowStatus | null> {
    checkIdentifier(workflowID, "Stepwise.getWorkflowStatus: workflowID");
    return recordedRead("Stepwise.getWorkflowStatus", async () => {
      const row = await executorHere().sysdb.getWorkflow(workflowID);
      return row ? toStatus(row) : null;
    });
  }

  /** Runs matching the filter. In a workflow, recorded: a replay sees what the first run saw. */
  static listWorkflows(filter: WorkflowFilter = {}): Promise<WorkflowStatus[]> {
    return recordedRead("Stepwise.listWorkflows", async () => (await executorHere().sysdb.listWorkflows(filter)).map(toStatus));
  }

  /** What a run recorded, operation by operation, in function-ID order. In a workflow, this read is recorded too. */
  static async listWorkflowSteps(workflowID: string): Promise<StepInfo[]> {
    checkIdentifier(workflowID, "Stepwise.listWorkflowSteps: workflowID");
    return recordedRead("Stepwise.listWorkflowSteps", () => readWorkflowSteps(workflowID));
  }

  /** Cancels a run that has not ended: it stops at its next durable operation, wherever it runs. */
  static cancelWorkflow(workflowID: string): Promise<boolean> {
    checkIdentifier(workflowID, "Stepwise.cancelWorkflow: workflowID");
    return cancelWorkflow(requireExecutor(), workflowID);
  }

  /**
   * Deletes a run that has ended (it throws for one PENDING or ENQUEUED: cancel it first)
   * with its recorded steps, events and inbox; with `deleteChildren`, the ended workflows
   * it started too. Its workflow ID is forgotten: starting it again starts a new run.
   * Returns false when no run has this ID.
   */
  static deleteWorkflow(workflowID: string, options: { deleteChildren?: boolean } = {}): Promise<boolean> {
    checkIdentifier(workflowID, "Stepwise.deleteWorkflow: workflowID");
    return deleteWorkflow(requireExecutor(), workflowID, options);
  }

  /**
   * Deletes ended runs created before `olderThan` and/or older than the newest
   * `keepNewest` runs, in batches; runs that have not ended, and children of runs that
   * have not, stay. Returns how many runs it deleted. Call it on a schedule (or run
   * `stepwise workflows gc`) to keep the system database from growing forever.
   */
  static garbageCollect(options: GarbageCollectOptions): Promise<number> {
    return garbageCollect(requireExecutor(), options);
  }

  /**
   * Resumes a cancelled or parked run from its last recorded step: in this process when
   * it has the workflow, else by whichever executor has it (through the internal queue).
   */
  static resumeWorkflow<T = unknown>(workflowID: string): Promise<WorkflowHandle<T>> {
    checkIdentifier(workflowID, "Stepwise.resumeWorkflow: workflowID");
    return resumeWorkflow(requireExecutor(), workflowID) as Promise<WorkflowHandle<T>>;
  }

  /**
   * Runs a recorded workflow again as a new run with the same inputs: outcomes recorded
   * before `fromFunctionID` are kept, everything from there runs anew.
   */
  static forkWorkflow<T = unknown>(
    workflowID: string,
    fromFunctionID: number,
    options: { newWorkflowID?: string } = {},
  ): Promise<WorkflowHandle<T>> {
    checkIdentifier(workflowID, "Stepwise.forkWorkflow: workflowID");
    checkIdentifier(options.newWorkflowID, "Stepwise.forkWorkflow: newWorkflowID");
    return forkWorkflow(requireExecutor(), workflowID, fromFunctionID, options) as Promise<WorkflowHandle<T>>;
  }

  static send = send;
  static recv = recv;
  static setEvent = setEvent;
  static getEvent = getEvent;
  static sleep = sleep;
  static now = now;
  static randomUUID = randomUUID;
  /** `if (await Stepwise.patched("id")) { new code } else { old code }`: see docs/concepts.md#patching-workflow-code. */
  static patched = patched;
  /** Where `patched("id")` was, once no run from before the patch can be replayed. */
  static deprecatePatch = deprecatePatch;

  /**
   * Resumes the PENDING runs of these executors (default: this one's): here when this
   * process has the workflow, else through a queue (a queued run goes back to its own
   * queue). Use it to take over the runs of an executor that is gone. Returns a handle
   * per run recovered.
   */
  static async recoverPendingWorkflows(executorIDs?: string[]): Promise<WorkflowHandle[]> {
    const executor = requireExecutor();
    const { resumed, queued } = await recoverPending(executor, executorIDs ?? [executor.executorID]);
    return [...resumed, ...queued].map((id) => handleFor(id));
  }

  /** Runs a function as a step, here and now. `config.name` is its durable ID. */
  static runStep<T>(fn: () => Promise<T>, config: StepConfig & { name: string }): Promise<T> {
    if (!config?.name) throw new ConfigError("Stepwise.runStep(fn, config) needs config.name: it is the step's durable ID.");
    return step(fn, config)();
  }

  static registerErrorClass = registerErrorClass;
  static registerClass = registerClass;

  /** The ID of the workflow running now, or undefined outside a workflow. */
  static get workflowID(): string | undefined {
    return frames.getStore()?.workflow?.workflowID;
  }

  /** The ID of the step running now, or undefined outside a step. */
  static get stepID(): string | undefined {
    return frames.getStore()?.step?.stepID;
  }

  /** Attempt number, attempts allowed and the timeout signal of the step running now. */
  static get stepStatus(): StepStatus | undefined {
    return frames.getStore()?.step?.status;
  }

  /** The database client of the transaction running now (`@transaction` functions only). */
  static get sql(): Queryable {
    return currentSql();
  }

  /** The runtime's logger, prefixed with the current workflow's ID when there is one. */
  static get logger(): Logger {
    const base = currentExecutor()?.logger ?? defaultLogger;
    const workflowID = frames.getStore()?.workflow?.workflowID;
    return workflowID ? prefixed(base, `[${workflowID}]`) : base;
  }
}
