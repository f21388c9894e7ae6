/**
 * Reads a workflow makes of other runs are recorded operations (as in DBOS), so a replay
 * takes the path the first run took; and runs recorded before that was so (schema 3, no
 * such rows) still replay after the upgrade, reading live as they did.
 */
import { describe, expect, test } from "vitest";
import { Stepwise, WorkflowNotFoundError, step, workflow } from "stepwise";
import { databases, type TestDatabase } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";
import { sql } from "../helpers/sql.js";
import { serialize } from "../../runtime/serialize.js";
import { MIGRATIONS } from "../../runtime/sysdb/migrations.js";
import { openPGlite } from "../../runtime/sysdb/pglite.js";
import { openPostgres } from "../../runtime/sysdb/pg.js";

const target = workflow(async (n: number) => n * 2, { name: "reads.target" });
let marks = 0;
const mark = step(async (n: number) => (marks++, n), { name: "reads.mark" });

/** Every kind of read of another run, then a step. */
const reader = workflow(
  async (targetID: string) => {
    const handle = Stepwise.retrieveWorkflow<number>(targetID);
    const status = await handle.getStatus();
    const result = await handle.getResult().catch((error: Error) => error.name);
    const viaStatic = await Stepwise.getWorkflowStatus(targetID);
    const listed = await Stepwise.listWorkflows({ name: "reads.target", limit: 1000 });
    const steps = await Stepwise.listWorkflowSteps(targetID);
    await mark(0);
    return {
      status: status?.status ?? null,
      result,
      viaStatic: viaStatic?.status ?? null,
      listed: listed.some((s) => s.workflowID === targetID),
      steps: steps.length,
    };
  },
  { name: "reads.reader" },
);

/** A child's handle inside its parent: its result is recorded, and the error too. */
const failingChild = workflow(async () => {
  throw new Error("child failed");
}, { name: "reads.failingChild" });
const parentOfFailing = workflow(
  async () => {
    const handle = await Stepwise.startWorkflow(failingChild)();
    return handle.getResult().catch((error: Error) => `${error.name}: ${error.message}`);
  },
  { name: "reads.parentOfFailing" },
);

/** Lists another run's steps, errors included, from inside a workflow. */
const listsSteps = workflow(
  async (workflowID: string) =>
    (await Stepwise.listWorkflowSteps(workflowID)).map((s) => ({ stepID: s.stepID, error: s.error, at: s.completedAt })),
  { name: "reads.listsSteps" },
);

describe.each(databases)("recorded reads on $name", (database) => {
  const { id } = launchedOn(database);

  test("a replay sees what the first run read, after the other run changed or went away", async () => {
    const targetID = id("target");
    expect(await (await Stepwise.startWorkflow(target, { workflowID: targetID })(21)).getResult()).toBe(42);
    const readerID = id("reader");
    const first = await (await Stepwise.startWorkflow(reader, { workflowID: readerID })(targetID)).getResult();
    expect(first).toEqual({ status: "SUCCESS", result: 42, viaStatic: "SUCCESS", listed: true, steps: 0 });
    expect((await Stepwise.listWorkflowSteps(readerID)).map((s) => s.stepID)).toEqual([
      "Stepwise.getStatus",
      "Stepwise.getResult",
      "Stepwise.getWorkflowStatus",
      "Stepwise.listWorkflows",
      "Stepwise.listWorkflowSteps",
      "reads.mark",
    ]);
    // The target is gone: a live read would now see nothing (and getResult would throw).
    expect(await Stepwise.deleteWorkflow(targetID)).toBe(true);
    expect(await Stepwise.retrieveWorkflow(targetID).getResult().catch((e) => e)).toBeInstanceOf(WorkflowNotFoundError);
    // A fork that keeps the five reads replays them.
    const fork = await Stepwise.forkWorkflow(readerID, 5);
    expect(await fork.getResult()).toEqual(first);
  });

  test("a child handle's getResult() records the child's error, which a replay throws again as its class", async () => {
    const parentID = id("parent");
    const message = await (await Stepwise.startWorkflow(parentOfFailing, { workflowID: parentID })()).getResult();
    expect(message).toBe("Error: child failed");
    const steps = await Stepwise.listWorkflowSteps(parentID);
    expect(steps.map((s) => s.stepID)).toEqual(["reads.failingChild", "Stepwise.getResult"]);
    expect(steps[1]!.error?.message).toBe("child failed");
    // The child's record gone, a replay still reads the error from the parent's own record.
    await Stepwise.deleteWorkflow(`${parentID}-0`);
    expect(await (await Stepwise.forkWorkflow(parentID, 2)).getResult()).toBe(message);

    // A recorded listing keeps its errors' classes and its dates.
    const lister = await Stepwise.startWorkflow(listsSteps, { workflowID: id("lister") })(parentID);
    const listed = await lister.getResult();
    expect(listed.map((s) => s.stepID)).toEqual(["reads.failingChild", "Stepwise.getResult"]);
    expect(listed[1]!.error).toBeInstanceOf(Error);
    expect(listed[1]!.at).toBeInstanceOf(Date);
    await Stepwise.deleteWorkflow(parentID);
    expect(await (await Stepwise.forkWorkflow(lister.workflowID, 1)).getResult()).toEqual(listed);
  });

  test("a read outside a workflow is not recorded anywhere", async () => {
    const before = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM stepwise.operation_outputs`);
    await Stepwise.listWorkflows({ limit: 1 });
    await Stepwise.getWorkflowStatus(id("nobody"));
    expect(await sql(`SELECT count(*)::int AS n FROM stepwise.operation_outputs`)).toEqual(before);
  });
});

/** A workflow recorded by the code before reads were recorded: its reads took no function ID. */
let legacySteps = 0;
const legacyStep = step(async (n: number) => (legacySteps++, n), { name: "reads.legacyStep" });
const legacyReader = workflow(
  async (targetID: string) => {
    const a = await legacyStep(1); // function ID 0
    const status = await Stepwise.getWorkflowStatus(targetID); // not recorded by the old code
    const result = await Stepwise.retrieveWorkflow<number>(targetID).getResult(); // nor this
    const b = await legacyStep(2); // function ID 1
    const c = await legacyStep(3); // function ID 2
    return [a, status?.status ?? null, result, b, c];
  },
  { name: "reads.legacyReader" },
);

/** Opens the database bare, brings it to schema 3 (main before this change) and writes rows as that code did. */
async function recordAtSchema3(db: { databaseUrl?: string; dataDir?: string }, runID: string, targetID: string): Promise<void> {
  const driver = db.databaseUrl ? await openPostgres(db.databaseUrl) : await openPGlite(db.dataDir!);
  try {
    await driver.transaction(async (tx) => {
      await tx.query(`CREATE SCHEMA stepwise`);
      await tx.query(`CREATE TABLE stepwise.schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`);
      for (const [i, statements] of MIGRATIONS.slice(0, 3).entries()) {
        for (const statement of statements) await tx.query(statement);
        await tx.query(`INSERT INTO stepwise.schema_migrations (version, applied_at) VALUES ($1, 0)`, [i + 1]);
      }
      const now = Date.now();
      // The target ended; the reader was interrupted after recording its first two steps.
      await tx.query(
        `INSERT INTO stepwise.workflow_status (workflow_id, name, status, inputs, output, executor_id, created_at, updated_at, started_at)
         VALUES ($1, 'reads.target', 'SUCCESS', $2, $3, 'local', $4, $4, $4)`,
        [targetID, serialize([21]), serialize(42), now],
      );
      await tx.query(
        `INSERT INTO stepwise.workflow_status (workflow_id, name, status, inputs, executor_id, created_at, updated_at, started_at)
         VALUES ($1, 'reads.legacyReader', 'PENDING', $2, 'local', $3, $3, $3)`,
        [runID, serialize([targetID]), now],
      );
      for (const [functionID, value] of [[0, 1], [1, 2]] as const) {
        await tx.query(
          `INSERT INTO stepwise.operation_outputs (workflow_id, function_id, step_id, output, error, attempts, child_workflow_id, started_at, completed_at)
           VALUES ($1, $2, 'reads.legacyStep', $3, NULL, 1, NULL, $4, $4)`,
          [runID, functionID, serialize(value), now],
        );
      }
    });
  } finally {
    await driver.close();
  }
}

describe.each(databases)("a run recorded before reads were recorded, on $name", (database: TestDatabase) => {
  test("resumes after the upgrade: its reads are read live and take no function ID, as when it was recorded", async () => {
    const db = await database.create();
    try {
      await recordAtSchema3(db, "legacy-reader", "legacy-target");
      legacySteps = 0;
      await Stepwise.launch({ ...db, logLevel: "silent" }); // migrates to this version, recovers the run
      expect(await Stepwise.retrieveWorkflow("legacy-reader").getResult()).toEqual([1, "SUCCESS", 42, 2, 3]);
      expect(legacySteps).toBe(1); // only the step it had not recorded
      expect((await Stepwise.listWorkflowSteps("legacy-reader")).map((s) => `${s.functionID}:${s.stepID}`)).toEqual([
        "0:reads.legacyStep",
        "1:reads.legacyStep",
        "2:reads.legacyStep",
      ]);
      expect((await Stepwise.getWorkflowStatus("legacy-reader"))!.recoveryError).toBeNull();
    } finally {
      await Stepwise.shutdown();
      await db.cleanup();
    }
  });
});
