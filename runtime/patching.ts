/**
 * Changing a workflow's code while runs of it are in flight. A replayed run must call
 * the operations it recorded, in order; new code that adds, removes or reorders them
 * would stop old runs with a NonDeterminismError. Wrapping the change in
 * `if (await Stepwise.patched("id")) { new } else { old }` lets both live: a run that
 * reaches the patch for the first time records a marker there and takes the new path;
 * a run that recorded something else at that point (the old code's next operation)
 * takes the old path, and the marker takes no function ID. Once no run that predates
 * the patch can still be replayed, `deprecatePatch("id")` replaces the `if` (old
 * branch deleted), and later the call itself can go.
 */
import { WorkflowCancelledError } from "./errors.js";
import { recordRow } from "./messaging.js";
import { operationRow, throwIfStopped, workflowOperationContext } from "./operations.js";
import { serialize } from "./serialize.js";

const markerOf = (patchID: string) => `Stepwise.patch:${patchID}`;

/** True when this run takes the code after the patch: a new run, or one that recorded the patch; false for a run recorded by the code before it. */
export async function patched(patchID: string): Promise<boolean> {
  const run = workflowOperationContext("Stepwise.patched", "SW1002");
  if (!run) return true; // outside a workflow there is nothing recorded to agree with
  throwIfStopped(run);
  if (run.cancelled) throw new WorkflowCancelledError(run.workflowID);
  const marker = markerOf(patchID);
  const recorded = run.recorded?.get(run.nextFunctionID);
  if (recorded) {
    if (recorded.stepID !== marker) return false; // the old code ran here: no function ID taken
    run.nextFunctionID++;
    return true;
  }
  // Nothing here, but something after (an operation of the old code was in flight here, in a
  // Promise.all, when the run stopped): the old code ran past this point.
  const here = run.nextFunctionID;
  if (run.recorded && [...run.recorded.keys()].some((functionID) => functionID > here)) return false;
  const functionID = run.nextFunctionID++;
  const row = { ...operationRow(run, functionID, marker, Date.now()), output: serialize(true) };
  return recordRow<boolean>(run.executor, run, row);
}

/**
 * For code whose old branch is gone: passes over a marker recorded by `patched(patchID)`
 * (so runs that recorded it replay), records nothing, and always resolves true.
 */
export async function deprecatePatch(patchID: string): Promise<true> {
  const run = workflowOperationContext("Stepwise.deprecatePatch", "SW1002");
  if (!run) return true;
  if (run.cancelled) throw new WorkflowCancelledError(run.workflowID);
  if (run.recorded?.get(run.nextFunctionID)?.stepID === markerOf(patchID)) run.nextFunctionID++;
  return true;
}
