import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stepwise, StepwiseError, step, transaction, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";
import { sql } from "../helpers/sql.js";
import { launchedOn } from "../helpers/launched.js";

let transferRuns = 0;
const transfer = transaction(
  async (from: string, to: string, cents: number) => {
    transferRuns++;
    await Stepwise.sql.query(`UPDATE accounts SET cents = cents - $2 WHERE id = $1`, [from, cents]);
    await Stepwise.sql.query(`UPDATE accounts SET cents = cents + $2 WHERE id = $1`, [to, cents]);
    await Stepwise.sql.query(`INSERT INTO ledger (from_id, to_id, cents) VALUES ($1, $2, $3)`, [from, to, cents]);
    const { rows } = await Stepwise.sql.query<{ cents: number }>(`SELECT cents FROM accounts WHERE id = $1`, [from]);
    if (rows[0]!.cents < 0) throw new StepwiseError(`insufficient funds in ${from}`);
    return rows[0]!.cents;
  },
  { name: "transfer", isolationLevel: "serializable" },
);

const payday = workflow(async (cents: number) => transfer("bank", "alice", cents), { name: "payday" });

const startsWorkflow = transaction(async () => payday(1), { name: "startsWorkflow" });

let childRuns = 0;
const child = workflow(
  async (n: number) => {
    childRuns++;
    return step(async () => n * 3, { name: "child.triple" })();
  },
  { name: "child" },
);
const parent = workflow(
  async (n: number) => {
    const a = await child(n);
    const handle = await Stepwise.startWorkflow(child, { workflowID: `explicit-${Stepwise.workflowID}` })(n + 1);
    return [a, await handle.getResult()];
  },
  { name: "parent" },
);

describe.each(databases)("transactions and child workflows on $name", (database) => {
  launchedOn(database);
  beforeAll(async () => {
    await sql(`CREATE TABLE accounts (id text PRIMARY KEY, cents integer NOT NULL)`);
    await sql(`CREATE TABLE ledger (from_id text, to_id text, cents integer)`);
    await sql(`INSERT INTO accounts VALUES ('bank', 1000), ('alice', 0)`);
  });

  test("a transaction's writes and its checkpoint commit together; a replay does not run it again", async () => {
    transferRuns = 0;
    const id = `payday-${database.name}`;
    expect(await (await Stepwise.startWorkflow(payday, { workflowID: id })(100)).getResult()).toBe(900);
    const [recorded] = await Stepwise.listWorkflowSteps(id);
    expect(recorded).toMatchObject({ functionID: 0, stepID: "transfer", output: 900 });

    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toBe(900);
    expect(transferRuns).toBe(1);
    expect(await sql(`SELECT count(*)::int AS n FROM ledger`)).toEqual([{ n: 1 }]);
  });

  test("a failing transaction rolls back its writes and its error is checkpointed", async () => {
    const id = `overdraft-${database.name}`;
    const error = await (await Stepwise.startWorkflow(payday, { workflowID: id })(5000)).getResult().catch((e) => e);
    expect(error).toBeInstanceOf(StepwiseError);
    expect(error.message).toContain("insufficient funds");
    expect(await sql(`SELECT id, cents FROM accounts ORDER BY id`)).toEqual([
      { id: "alice", cents: 100 },
      { id: "bank", cents: 900 },
    ]);
    const [recorded] = await Stepwise.listWorkflowSteps(id);
    expect(recorded!.error).toBeInstanceOf(StepwiseError);
  });

  test("Stepwise.sql outside a transaction, and a workflow inside one, are errors", async () => {
    expect(() => Stepwise.sql).toThrow(/only available inside a transaction/);
    await expect(startsWorkflow()).rejects.toThrow(/SW1001/);
  });

  test("child workflows are recorded at the parent's function ID and reattached on replay", async () => {
    childRuns = 0;
    const id = `parent-${database.name}`;
    expect(await (await Stepwise.startWorkflow(parent, { workflowID: id })(2)).getResult()).toEqual([6, 9]);
    const steps = await Stepwise.listWorkflowSteps(id);
    expect(steps.map((s) => [s.functionID, s.stepID, s.childWorkflowID])).toEqual([
      [0, "child", `${id}-0`],
      [1, "child", `explicit-${id}`],
      // The handle's result is a read of another run: recorded, so a replay sees it again.
      [2, "Stepwise.getResult", null],
    ]);
    expect((await Stepwise.getWorkflowStatus(`${id}-0`))!.status).toBe("SUCCESS");

    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual([6, 9]);
    expect(childRuns).toBe(2);
  });
});
