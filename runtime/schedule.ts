/**
 * Scheduled workflows: `Stepwise.schedule(wf, { cron })` starts a run of `wf` at each
 * tick of a cron expression (read by croner), passing the tick's time. Every launched
 * process that defines the schedule fires it; the run's ID is derived from the workflow
 * and the tick (`schedule:<name>:<ISO time>`), so however many processes fire a tick,
 * one run is recorded and one process runs it (or its queue's dequeuer, with `queue`).
 * Ticks while no process is up are not run afterwards, unless the schedule has `catchUp`:
 * then the latest tick fired is kept in the database, and a launch first fires the ticks
 * missed since (at most MAX_CATCH_UP of them, oldest first).
 */
import { Cron } from "croner";
import { frames } from "./context.js";
import { ConfigError } from "./errors.js";
import { currentExecutor, type Executor } from "./executor.js";
import type { Queue } from "./queue.js";
import { workflowOf, type RegisteredWorkflow } from "./registry.js";
import { at, briefly } from "./timer.js";

export interface ScheduleOptions {
  /** A cron expression: 5 fields (minute to weekday), or 6 with seconds first. */
  cron: string;
  /** The IANA time zone the expression is read in (default UTC). */
  timezone?: string;
  /** Enqueue each tick's run on this queue (its limits apply) instead of running it in the process that records it. */
  queue?: Queue | string;
  /** Each tick's run is cancelled if it has not ended this many ms after it starts (see startWorkflow's timeoutMS). */
  timeoutMS?: number;
  /** At launch, also run the ticks missed while no process was up (at most 100, oldest first). Default false. */
  catchUp?: boolean;
}

interface Schedule {
  workflow: RegisteredWorkflow;
  cron: Cron;
  queueName?: string;
  timeoutMS?: number;
  catchUp: boolean;
}

/** The most missed ticks one launch fires: a schedule down for long does not flood its workflow. */
export const MAX_CATCH_UP = 100;

const schedules = new Map<string, Schedule>();

/** The ID of a tick's run: the same in every process, so a tick is recorded once. */
export function scheduledRunID(workflowName: string, tick: Date): string {
  return `schedule:${workflowName}:${tick.toISOString()}`;
}

/** Registers a schedule (once per workflow); a launched process starts firing it at once. */
export function defineSchedule(wf: unknown, options: ScheduleOptions): void {
  const workflow = workflowOf(wf);
  if (!workflow) {
    throw new ConfigError("schedule() needs a workflow: tag the function /** @workflow */ or wrap it with workflow(fn, { name }).");
  }
  if (schedules.has(workflow.name)) {
    throw new ConfigError(`Workflow '${workflow.name}' already has a schedule; give it one schedule, or define a second workflow.`);
  }
  let cron: Cron;
  try {
    cron = new Cron(options.cron, { timezone: options.timezone ?? "UTC", paused: true });
    cron.nextRun(); // an unknown time zone fails here, not at the first tick
  } catch (error) {
    throw new ConfigError(`schedule('${workflow.name}'): ${(error as Error).message}`);
  }
  const { timeoutMS } = options;
  if (timeoutMS !== undefined && !(Number.isFinite(timeoutMS) && timeoutMS > 0)) {
    throw new ConfigError(`schedule('${workflow.name}'): timeoutMS must be a number of milliseconds above 0, got ${timeoutMS}`);
  }
  const queueName = options.queue === undefined ? undefined : typeof options.queue === "string" ? options.queue : options.queue.name;
  const schedule = { workflow, cron, queueName, timeoutMS, catchUp: options.catchUp === true };
  schedules.set(workflow.name, schedule);
  const executor = currentExecutor();
  if (executor) fire(executor, schedule);
}

/** The ticks after the schedule's watermark up to `now`, oldest first, at most MAX_CATCH_UP; none before its first watermark. */
async function missedTicks(executor: Executor, name: string, cron: Cron, now: Date): Promise<Date[]> {
  const last = await executor.sysdb.scheduleWatermark(name);
  if (last === null) {
    // A schedule's first launch: nothing was missed yet; from here on, ticks are counted.
    await executor.sysdb.advanceSchedule(name, now.getTime());
    return [];
  }
  const ticks = cron.nextRuns(MAX_CATCH_UP + 1, new Date(last)).filter((tick) => tick.getTime() <= now.getTime());
  if (ticks.length > MAX_CATCH_UP) {
    executor.logger.warn(
      `schedule '${name}': more than ${MAX_CATCH_UP} ticks were missed while no process ran it; ` +
        `running the ${MAX_CATCH_UP} from ${ticks[0]!.toISOString()}, skipping the rest up to ${now.toISOString()}`,
    );
  }
  return ticks.slice(0, MAX_CATCH_UP);
}

/** Starts firing every defined schedule from this process (at launch); shutdown stops them. */
export function startSchedules(executor: Executor): void {
  for (const schedule of schedules.values()) fire(executor, schedule);
}

function fire(executor: Executor, { workflow, cron, queueName, timeoutMS, catchUp }: Schedule): void {
  let cancel = () => {};
  let stopped = false;
  let starting: Promise<void> | undefined;
  // Each tick is computed from the previous one, not from the clock, so none is fired twice or skipped.
  const wait = (after: Date) => {
    const tick = cron.nextRun(after);
    if (!tick || stopped) return;
    cancel = at(tick.getTime(), () => {
      starting = start(tick).finally(() => wait(tick));
    });
  };
  const start = async (tick: Date) => {
    const invocation = {
      workflowID: scheduledRunID(workflow.name, tick),
      wantHandle: true,
      consumed: false,
      queue: queueName === undefined ? undefined : { queueName },
      timeoutMS,
      // Another process recorded this tick first: it runs it.
      adopt: false,
    };
    try {
      await frames.run({ invocation }, () => Promise.resolve(workflow.fn.apply(workflow.thisArg, [tick] as never[])));
      if (catchUp) await executor.sysdb.advanceSchedule(workflow.name, tick.getTime());
    } catch (error) {
      executor.logger.warn(`schedule '${workflow.name}': the run for ${tick.toISOString()} was not started: ${(error as Error).message}`);
    }
  };
  const launchedAt = new Date();
  let catchingUp: Promise<void> | undefined;
  if (catchUp) {
    catchingUp = (async () => {
      for (const tick of await missedTicks(executor, workflow.name, cron, launchedAt)) {
        if (stopped) return;
        await start(tick);
      }
    })().catch((error: Error) => executor.logger.warn(`schedule '${workflow.name}': catching up failed: ${error.message}`));
  }
  wait(launchedAt);
  executor.stopHooks.push(async () => {
    stopped = true;
    cancel();
    // A tick being recorded finishes first, so that it is not cut off by the database closing.
    await briefly(Promise.all([starting, catchingUp]));
  });
}
