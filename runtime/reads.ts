/**
 * Reads a workflow makes of other runs (a handle's result or status, getWorkflowStatus,
 * listWorkflows, listWorkflowSteps) are durable operations, as in DBOS: the first run
 * records what it read, and a replay returns that instead of reading again, so it takes
 * the same path. Runs recorded before this was so (format 1) replay by reading live,
 * as they did, and take no function ID for it.
 */
import { frames, type WorkflowRun } from "./context.js";
import { DatabaseConnectionError, ShutdownError } from "./errors.js";
import { recordRow } from "./messaging.js";
import { nextOperation, operationRow, parkOnFailure } from "./operations.js";
import { serialize, serializeError } from "./serialize.js";
import { materialize } from "./step.js";
import { isConnectionError } from "./sysdb/pg.js";

/** Runs `read`; inside a workflow body, as the operation `operation`, recorded. */
export function recordedRead<T>(operation: string, read: () => Promise<T>): Promise<T> {
  const frame = frames.getStore();
  const run = frame?.workflow;
  // Inside a step or transaction the read is part of it, whose outcome is what is recorded.
  if (!run || frame.step || frame.transaction || run.recordsReads === false) return read();
  try {
    const { functionID, recorded } = nextOperation(run, operation);
    if (recorded) return Promise.resolve(materialize<T>(run, recorded));
    return readAndRecord(run, functionID, operation, read);
  } catch (error) {
    return Promise.reject(error);
  }
}

async function readAndRecord<T>(run: WorkflowRun, functionID: number, operation: string, read: () => Promise<T>): Promise<T> {
  const row = operationRow(run, functionID, operation, Date.now());
  try {
    row.output = serialize(await read());
  } catch (error) {
    // Not what the read found: the caller's own cancellation or stop (shutdown, lost process
    // lock), or the system database failing under it.
    if (run.cancelled || run.stopped || error instanceof ShutdownError) throw error;
    if (error instanceof DatabaseConnectionError || isConnectionError(error)) return parkOnFailure(run, error);
    row.error = serializeError(error);
  }
  row.completedAt = Date.now();
  return recordRow<T>(run.executor, run, row);
}
