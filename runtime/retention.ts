/**
 * Retention: deleting runs that have ended, one at a time (`deleteWorkflow`) or by age
 * and count (`garbageCollect`), so that the system database does not grow forever.
 * Only ended runs are deleted (SUCCESS, ERROR, CANCELLED, MAX_RECOVERY_ATTEMPTS_EXCEEDED);
 * a run that is PENDING or ENQUEUED, and a child whose parent has not ended, stay.
 * Deleting a run forgets its workflow ID: starting that ID again starts a new run.
 */
import { ConfigError, StepwiseError } from "./errors.js";
import type { Executor } from "./executor.js";
import { every } from "./timer.js";

export interface GarbageCollectOptions {
  /** Delete ended runs created before this time (a Date, or epoch ms). */
  olderThan?: Date | number;
  /** Keep at least the newest this many runs (of any status); delete ended runs older than those. */
  keepNewest?: number;
}

/** The launch option `retention`. */
export interface RetentionSchedule {
  /** Delete ended runs created more than this many hours ago. */
  olderThanHours?: number;
  /** Keep at least the newest this many runs. */
  keepNewest?: number;
  /** How often, in minutes (default 60). The first pass comes at a random point of the first period, so processes started together spread out. */
  everyMinutes?: number;
}

/** Checks the launch option `retention` (before anything is opened); throws ConfigError. */
export function checkRetentionSchedule(schedule: RetentionSchedule | undefined): void {
  if (schedule === undefined) return;
  const { olderThanHours, keepNewest, everyMinutes } = schedule;
  if (olderThanHours === undefined && keepNewest === undefined) {
    throw new ConfigError("launch option 'retention' needs olderThanHours, keepNewest or both.");
  }
  if (olderThanHours !== undefined && !(Number.isFinite(olderThanHours) && olderThanHours > 0)) {
    throw new ConfigError(`launch option 'retention.olderThanHours' must be a number above 0, got ${olderThanHours}`);
  }
  if (keepNewest !== undefined && !(Number.isInteger(keepNewest) && keepNewest >= 0)) {
    throw new ConfigError(`launch option 'retention.keepNewest' must be a whole number, 0 or more, got ${keepNewest}`);
  }
  if (everyMinutes !== undefined && !(Number.isFinite(everyMinutes) && everyMinutes > 0)) {
    throw new ConfigError(`launch option 'retention.everyMinutes' must be a number above 0, got ${everyMinutes}`);
  }
}

/** Starts the `retention` schedule; shutdown stops it (waiting for a pass in progress). */
export function startRetention(executor: Executor, schedule: RetentionSchedule): void {
  const period = (schedule.everyMinutes ?? 60) * 60_000;
  const collect = async () => {
    try {
      const olderThan = schedule.olderThanHours === undefined ? undefined : Date.now() - schedule.olderThanHours * 3_600_000;
      const deleted = await garbageCollect(executor, { olderThan, keepNewest: schedule.keepNewest });
      if (deleted > 0) executor.logger.info(`retention: deleted ${deleted} ended run(s)`);
    } catch (error) {
      executor.logger.warn(`retention: garbage collection failed, will try again in ${period / 60_000} min: ${(error as Error).message}`);
    }
  };
  executor.stopHooks.push(every(period, Math.random() * period, collect));
}

/** Runs deleted per statement: each batch is one short transaction, so a large collection never holds locks for long. */
const BATCH = 1000;

/**
 * Deletes a run that has ended, with its recorded operations, events and inbox; with
 * `deleteChildren`, the workflows it started too (those that have ended). Returns false
 * when no run has this ID.
 */
export async function deleteWorkflow(executor: Executor, workflowID: string, options: { deleteChildren?: boolean } = {}): Promise<boolean> {
  const row = await executor.sysdb.getWorkflow(workflowID);
  if (!row) return false;
  if (row.status === "PENDING" || row.status === "ENQUEUED") {
    throw new StepwiseError(
      `Workflow '${workflowID}' has not ended (${row.status}), so it cannot be deleted: cancel it first, or wait for it to end.`,
    );
  }
  const ids = options.deleteChildren ? await executor.sysdb.workflowTree(workflowID) : [workflowID];
  const deleted = await executor.sysdb.deleteEndedWorkflows(ids);
  await executor.appdb?.deleteOutputs(deleted);
  return deleted.includes(workflowID);
}

/** Deletes ended runs by age and count (see GarbageCollectOptions); returns how many it deleted. */
export async function garbageCollect(executor: Executor, options: GarbageCollectOptions): Promise<number> {
  const { olderThan, keepNewest } = options;
  if (olderThan === undefined && keepNewest === undefined) {
    throw new ConfigError("garbageCollect: give olderThan, keepNewest or both; with neither it would delete every ended run.");
  }
  if (keepNewest !== undefined && !(Number.isInteger(keepNewest) && keepNewest >= 0)) {
    throw new ConfigError(`garbageCollect: keepNewest must be a whole number, 0 or more, got ${keepNewest}`);
  }
  let before = olderThan === undefined ? Number.MAX_SAFE_INTEGER : olderThan instanceof Date ? olderThan.getTime() : olderThan;
  if (!Number.isFinite(before)) throw new ConfigError(`garbageCollect: olderThan must be a Date or epoch ms, got ${String(olderThan)}`);
  if (keepNewest !== undefined && keepNewest > 0) {
    // Older than the keepNewest-th newest run: at least that many stay (more when several share its creation time).
    const nth = await executor.sysdb.nthNewestCreatedAt(keepNewest);
    if (nth === null) return 0;
    before = Math.min(before, nth);
  }
  let total = 0;
  for (;;) {
    const ids = await executor.sysdb.endedWorkflowsBefore(before, BATCH);
    if (ids.length === 0) return total;
    const deleted = await executor.sysdb.deleteEndedWorkflows(ids, { spareChildren: true });
    await executor.appdb?.deleteOutputs(deleted);
    total += deleted.length;
    // Every candidate could have been resumed meanwhile: nothing left to do this round.
    if (deleted.length === 0 || ids.length < BATCH) return total;
  }
}
