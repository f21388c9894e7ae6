/**
 * Executor liveness. Every launched executor that recovers runs renews a heartbeat row;
 * each of them also looks for executors whose heartbeat stopped more than
 * `executorTimeoutSeconds` ago while they still own PENDING runs (a process that was
 * killed, or scaled away, with runs in flight) and takes those runs over, as
 * `recoverPendingWorkflows([id])` does: claimed one by one on the previous owner, so
 * when several live executors notice at once each run goes to one of them. Only
 * executors that registered a heartbeat are ever taken over: a process of an older
 * Stepwise, or one launched with `recover: false`, is left alone.
 */
import { randomUUID } from "node:crypto";
import type { Executor } from "./executor.js";
import { every } from "./timer.js";
import { recoverPending, recoverRows } from "./workflow.js";

/** Heartbeats per timeout: a missed beat or two (a long GC pause, a slow query) is not death. */
const BEATS_PER_TIMEOUT = 6;

/** Registers this executor, then keeps its heartbeat and takes over dead executors' runs until shutdown. */
export async function startLiveness(executor: Executor, timeoutSeconds: number): Promise<void> {
  const startedAt = Date.now();
  const instance = randomUUID();
  const timeoutMs = timeoutSeconds * 1000;
  const period = Math.min(Math.max(timeoutMs / BEATS_PER_TIMEOUT, 200), 10_000);
  await executor.sysdb.heartbeat(executor.executorID, instance, startedAt);
  let warned = false;
  const beat = async () => {
    try {
      const previous = await executor.sysdb.heartbeat(executor.executorID, instance, startedAt);
      if (previous !== null && previous !== instance && !warned) {
        // Someone else wrote this executor's row since our last beat: a second live process with our ID.
        warned = true;
        executor.logger.warn(
          `another live process uses executor ID '${executor.executorID}': each recovers the other's runs at launch, ` +
            `which can run their steps twice. Give each process its own (STEPWISE_EXECUTOR_ID, launch option executorID), ` +
            `such as its host or pod name.`,
        );
      }
      await recoverLeftBehind(executor, startedAt);
      await takeOver(executor, timeoutMs);
    } catch (error) {
      executor.logger.warn(`executor heartbeat failed (${(error as Error).message}); will try again`);
    }
  };
  executor.stopHooks.push(every(period, period, beat));
}

/**
 * Runs of this executor ID left by an earlier process of it after launch recovery read
 * them: PENDING, not running here, last changed before this process started. That
 * happens when the killed process's last commit (a dequeue, say) was still on its way
 * to the server, and reached it after this process's recovery had looked.
 */
async function recoverLeftBehind(executor: Executor, startedAt: number): Promise<void> {
  // Read in SQL, not filtered here: a busy executor's own PENDING runs are many, these few.
  // A run with a recovery error is parked for a reason (launch recovery tried it): not retried here.
  const rows = (await executor.sysdb.pendingWorkflows([executor.executorID], startedAt)).filter(
    (row) => row.recoveryError === null && !executor.running.has(row.workflowID),
  );
  if (rows.length === 0) return;
  const { resumed, queued } = await recoverRows(executor, rows);
  if (resumed.length + queued.length === 0) return;
  executor.logger.warn(
    `recovered ${resumed.length + queued.length} run(s) an earlier process of executor '${executor.executorID}' left behind after launch ` +
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
