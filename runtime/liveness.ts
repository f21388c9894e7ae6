/**
 * Executor liveness. Every launched executor that recovers runs renews a heartbeat row;
 * each of them also looks for executors whose heartbeat stopped more than
 * `executorTimeoutSeconds` ago while they still own PENDING runs (a process that was
 * killed, or scaled away, with runs in flight) and takes those runs over, as
 * `recoverPendingWorkflows([id])` does: claimed one by one on the previous owner, so
 * when several live executors notice at once each run goes to one of them. Only
 * executors that registered a heartbeat are ever taken over: a process of an older
 * Stepwise, or one launched with `recover: false`, is left alone. A run whose process
 * still holds its lock (process-lock.ts) is never taken, however old the heartbeat.
 * Runs of this process's own executor ID whose process is gone need no timeout: they
 * are recovered within seconds (see recoverOrphans).
 */
import { randomUUID } from "node:crypto";
import type { Executor } from "./executor.js";
import { every } from "./timer.js";
import { recoverPending, recoverRows } from "./workflow.js";

/** Heartbeats per timeout: a missed beat or two (a long GC pause, a slow query) is not death. */
const BEATS_PER_TIMEOUT = 6;

/**
 * How often a process looks for runs of its executor ID whose process is gone. It needs
 * no timeout (a dead process's lock is released with its session), so this is often.
 */
const ORPHAN_CHECK_MS = 2000;

/** Registers this executor, then keeps its heartbeat and takes over dead executors' runs until shutdown. */
export async function startLiveness(executor: Executor, timeoutSeconds: number): Promise<void> {
  const startedAt = Date.now();
  const instance = randomUUID();
  const timeoutMs = timeoutSeconds * 1000;
  const period = Math.min(Math.max(timeoutMs / BEATS_PER_TIMEOUT, 200), 10_000);
  await executor.sysdb.heartbeat(executor.executorID, instance, startedAt);
  const beat = async () => {
    try {
      await executor.sysdb.heartbeat(executor.executorID, instance, startedAt);
      if (executor.lock.held) await takeOver(executor, timeoutMs);
    } catch (error) {
      executor.logger.warn(`executor heartbeat failed (${(error as Error).message}); will try again`);
    }
  };
  executor.stopHooks.push(every(period, period, beat));
  const orphans = async () => {
    try {
      await recoverOrphans(executor, startedAt);
    } catch (error) {
      executor.logger.warn(`looking for runs left by a stopped process failed (${(error as Error).message}); will try again`);
    }
  };
  executor.stopHooks.push(every(ORPHAN_CHECK_MS, ORPHAN_CHECK_MS, orphans));
  // The runs stopped when the lock was lost resume as soon as it is held again (here, or in another process first).
  const regained = () => void orphans();
  executor.regainListeners.add(regained);
  executor.stopHooks.push(() => void executor.regainListeners.delete(regained));
}

/**
 * Runs of this executor ID whose process is gone, not running here: left by another
 * process of this ID that was killed while this one runs, by an earlier process whose
 * last commit (a dequeue, say) reached the server after this one's launch recovery had
 * looked, or by this process itself when it lost its lock. Recovered at once: a process
 * token's released lock is proof that its process no longer executes them.
 */
async function recoverOrphans(executor: Executor, startedAt: number): Promise<void> {
  if (!executor.lock.held || executor.stopping) return;
  // Read in SQL, not filtered here: a busy executor's own PENDING runs are many, these few.
  const rows = (await executor.sysdb.orphanedWorkflows(executor.executorID, startedAt)).filter(
    (row) => !executor.running.has(row.workflowID),
  );
  if (rows.length === 0) return;
  const { resumed, queued } = await recoverRows(executor, rows);
  if (resumed.length + queued.length === 0) return;
  executor.logger.warn(
    `recovered ${resumed.length + queued.length} run(s) of executor '${executor.executorID}' whose process is gone ` +
      `(${resumed.length} here, ${queued.length} queued)`,
  );
}

async function takeOver(executor: Executor, timeoutMs: number): Promise<void> {
  const staleBefore = Date.now() - timeoutMs;
  for (const dead of await executor.sysdb.deadExecutors(staleBefore)) {
    if (dead.executorID === executor.executorID) continue;
    const { resumed, queued } = await recoverPending(executor, [dead.executorID]);
    if (resumed.length + queued.length > 0) {
      executor.logger.warn(
        `executor '${dead.executorID}' has not been seen for ${Math.round((Date.now() - dead.heartbeatAt) / 1000)}s: ` +
          `took over its ${resumed.length + queued.length} pending run(s) (${resumed.length} here, ${queued.length} queued)`,
      );
    }
  }
  await executor.sysdb.forgetExecutors(staleBefore);
}
