/**
 * Patching workflow code while runs are in flight: a run recorded by the old code
 * replays the old path, a new run takes and records the new one, and deprecatePatch
 * keeps both kinds replaying once the old branch is deleted. "The code" is the
 * `version` variable; a crash is simulated by setting a finished run back to PENDING
 * with its last record removed, and recovering it.
 */
import { describe, expect, test } from "vitest";
import { Stepwise, step, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";
import { sql } from "../helpers/sql.js";

let version: 1 | 2 | 3 | "unpatched" = 1;
const log: string[] = [];
const note = step(async (entry: string) => void log.push(entry), { name: "patching.note" });
const extra = step(async (entry: string) => void log.push(entry), { name: "patching.extra" });

const order = workflow(
  async (key: string) => {
    await note(`${key}:a`);
    if (version === 2) {
      if (await Stepwise.patched("extra-step")) await extra(`${key}:extra`);
    } else if (version === 3) {
      await Stepwise.deprecatePatch("extra-step");
      await extra(`${key}:extra`);
    } else if (version === "unpatched") {
      await extra(`${key}:extra`);
    }
    await note(`${key}:b`);
    await note(`${key}:c`);
    return "done";
  },
  { name: "patching.order" },
);

const inStep = step(async () => Stepwise.patched("nope"), { name: "patching.inStep" });
const patchInStep = workflow(async () => inStep(), { name: "patching.patchInStep" });

/** Runs `key` to the end, then leaves it as a crash before its last operation would: PENDING, last record gone. */
async function runThenCrash(key: string) {
  await (await Stepwise.startWorkflow(order, { workflowID: key })(key)).getResult();
  const last = Math.max(...(await Stepwise.listWorkflowSteps(key)).map((s) => s.functionID));
  await sql(`DELETE FROM stepwise.operation_outputs WHERE workflow_id = $1 AND function_id = $2`, [key, last]);
  await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [key]);
}

async function recover(key: string) {
  await Stepwise.recoverPendingWorkflows();
  return Stepwise.retrieveWorkflow(key).getResult();
}

const stepsOf = async (key: string) => (await Stepwise.listWorkflowSteps(key)).map((s) => s.stepID);
const ran = (entry: string) => log.filter((l) => l === entry).length;

describe.each(databases)("patching workflow code on $name", (database) => {
  const { id } = launchedOn(database);

  test("a run recorded before the patch replays the old path under the new code", async () => {
    const key = id("old");
    version = 1;
    await runThenCrash(key);
    version = 2;
    expect(await recover(key)).toBe("done");
    expect(ran(`${key}:extra`)).toBe(0);
    expect(ran(`${key}:a`)).toBe(1);
    expect(ran(`${key}:c`)).toBe(2); // the operation lost in the crash ran again
    expect(await stepsOf(key)).toEqual(["patching.note", "patching.note", "patching.note"]);
  });

  test("without the patch, the same change stops that run with a NonDeterminismError", async () => {
    const key = id("unpatched");
    version = 1;
    await runThenCrash(key);
    version = "unpatched";
    const handle = (await Stepwise.recoverPendingWorkflows()).find((h) => h.workflowID === key)!;
    // The replay parks the run: its result rejects, and it stays PENDING with the reason.
    await expect(handle.getResult()).rejects.toThrow(/patching\.extra/);
    const status = (await Stepwise.getWorkflowStatus(key))!;
    expect(status.status).toBe("PENDING");
    expect(status.recoveryError).toMatch(/NonDeterminismError.*patching\.note.*patching\.extra|NonDeterminismError.*patching\.extra.*patching\.note/);
    await Stepwise.cancelWorkflow(key);
  });

  test("a new run takes the new path, records the patch, and replays it", async () => {
    const key = id("new");
    version = 2;
    await runThenCrash(key);
    expect(await stepsOf(key)).toEqual(["patching.note", "Stepwise.patch:extra-step", "patching.extra", "patching.note"]);
    expect(await recover(key)).toBe("done");
    expect(ran(`${key}:extra`)).toBe(1);
    expect(ran(`${key}:c`)).toBe(2);
  });

  test("deprecatePatch replays runs that recorded the patch, and new runs record nothing for it", async () => {
    const patchedRun = id("patched");
    version = 2;
    await runThenCrash(patchedRun);
    version = 3;
    expect(await recover(patchedRun)).toBe("done");
    expect(ran(`${patchedRun}:extra`)).toBe(1);

    const fresh = id("fresh");
    await (await Stepwise.startWorkflow(order, { workflowID: fresh })(fresh)).getResult();
    expect(await stepsOf(fresh)).toEqual(["patching.note", "patching.extra", "patching.note", "patching.note"]);
  });

  test("outside a workflow patched is true; inside a step it is refused", async () => {
    expect(await Stepwise.patched("anything")).toBe(true);
    expect(await Stepwise.deprecatePatch("anything")).toBe(true);
    await expect(patchInStep()).rejects.toThrow(/Stepwise.patched was called inside step 'patching.inStep'/);
  });
});
