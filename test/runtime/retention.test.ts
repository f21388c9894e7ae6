/**
 * Retention: deleteWorkflow and garbageCollect delete ended runs with everything they
 * recorded, never a run that has not ended nor a child its unfinished parent will read.
 */
import { describe, expect, test } from "vitest";
import { ConfigError, Stepwise, StepwiseError, step, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";
import { sql } from "../helpers/sql.js";

const ran: string[] = [];
const note = step(async (entry: string) => void ran.push(entry), { name: "retention.note" });

const job = workflow(
  async (key: string) => {
    await note(key);
    await Stepwise.setEvent("state", "done");
    return key.length;
  },
  { name: "retention.job" },
);

/** Starts a child, then waits for a message: PENDING with an ended child. */
const waitingParent = workflow(
  async (key: string) => {
    await job(`${key}/child`);
    return Stepwise.recv<string>("go", 30);
  },
  { name: "retention.waitingParent" },
);

const parentOfJob = workflow(async (key: string) => job(`${key}/child`), { name: "retention.parentOfJob" });

async function rowsOf(workflowID: string) {
  const count = async (table: string, column = "workflow_id") =>
    Number((await sql<{ n: number }>(`SELECT count(*) AS n FROM stepwise.${table} WHERE ${column} = $1`, [workflowID]))[0]!.n);
  return {
    status: await count("workflow_status"),
    operations: await count("operation_outputs"),
    events: await count("workflow_events"),
    inbox: await count("notifications", "destination_id"),
  };
}

describe.each(databases)("retention on $name", (database) => {
  const { id } = launchedOn(database);

  test("deleteWorkflow removes an ended run and all it recorded; its ID then starts a new run", async () => {
    const key = id("job");
    await Stepwise.startWorkflow(job, { workflowID: key })(key).then((h) => h.getResult());
    await Stepwise.send(key, "left unread", "inbox");
    expect(await rowsOf(key)).toEqual({ status: 1, operations: 2, events: 1, inbox: 1 });

    expect(await Stepwise.deleteWorkflow(key)).toBe(true);
    expect(await rowsOf(key)).toEqual({ status: 0, operations: 0, events: 0, inbox: 0 });
    expect(await Stepwise.getWorkflowStatus(key)).toBeNull();
    expect(await Stepwise.deleteWorkflow(key)).toBe(false);

    // The idempotency key is forgotten: the same ID runs the workflow again.
    expect(await (await Stepwise.startWorkflow(job, { workflowID: key })(key)).getResult()).toBe(key.length);
    expect(ran.filter((r) => r === key)).toHaveLength(2);
  });

  test("a run that has not ended is refused, and nothing of it is deleted", async () => {
    const key = id("waiting");
    const handle = await Stepwise.startWorkflow(waitingParent, { workflowID: key })(key);
    for (let i = 0; i < 400 && (await rowsOf(key)).operations < 1; i++) await new Promise((r) => setTimeout(r, 5));
    const error = await Stepwise.deleteWorkflow(key).catch((e) => e);
    expect(error).toBeInstanceOf(StepwiseError);
    expect(error.message).toMatch(/has not ended \(PENDING\).*cancel it first/);
    expect((await rowsOf(key)).status).toBe(1);
    await Stepwise.send(key, "go", "go");
    expect(await handle.getResult()).toBe("go");
  });

  test("deleteChildren deletes the workflows it started; without it they stay", async () => {
    const keep = id("keepChild");
    const drop = id("dropChild");
    for (const key of [keep, drop]) await (await Stepwise.startWorkflow(parentOfJob, { workflowID: key })(key)).getResult();
    const childOf = async (key: string) => (await Stepwise.listWorkflowSteps(key)).find((s) => s.childWorkflowID)!.childWorkflowID!;
    const [keptChild, droppedChild] = [await childOf(keep), await childOf(drop)];

    expect(await Stepwise.deleteWorkflow(keep)).toBe(true);
    expect(await Stepwise.getWorkflowStatus(keptChild)).not.toBeNull();
    expect(await Stepwise.deleteWorkflow(drop, { deleteChildren: true })).toBe(true);
    expect(await rowsOf(droppedChild)).toEqual({ status: 0, operations: 0, events: 0, inbox: 0 });
  });

  test("garbageCollect deletes old ended runs; it keeps runs that have not ended, newer runs, and children of unfinished parents", async () => {
    const old = [id("old-a"), id("old-b")];
    for (const key of old) await (await Stepwise.startWorkflow(job, { workflowID: key })(key)).getResult();
    const parent = id("parent");
    const handle = await Stepwise.startWorkflow(waitingParent, { workflowID: parent })(parent);
    const child = `${parent}-0`;
    for (let i = 0; i < 2000 && (await Stepwise.getWorkflowStatus(child))?.status !== "SUCCESS"; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    const cutoff = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    const fresh = id("fresh");
    await (await Stepwise.startWorkflow(job, { workflowID: fresh })(fresh)).getResult();

    const deleted = await Stepwise.garbageCollect({ olderThan: new Date(cutoff) });
    expect(deleted).toBeGreaterThanOrEqual(old.length);
    for (const key of old) expect(await Stepwise.getWorkflowStatus(key)).toBeNull();
    expect((await Stepwise.getWorkflowStatus(fresh))!.status).toBe("SUCCESS");
    expect((await Stepwise.getWorkflowStatus(parent))!.status).toBe("PENDING");
    // The parent's replay reads this child's result: it stays while the parent runs.
    expect((await Stepwise.getWorkflowStatus(child))!.status).toBe("SUCCESS");

    await Stepwise.send(parent, "go", "go");
    expect(await handle.getResult()).toBe("go");
    await Stepwise.garbageCollect({ olderThan: cutoff });
    expect(await Stepwise.getWorkflowStatus(child)).toBeNull();
    expect(await Stepwise.getWorkflowStatus(parent)).toBeNull();
  });

  test("garbageCollect keepNewest keeps the newest runs and deletes the ended ones before them", async () => {
    const keys = [id("n1"), id("n2"), id("n3"), id("n4")];
    for (const key of keys) {
      await (await Stepwise.startWorkflow(job, { workflowID: key })(key)).getResult();
      await new Promise((r) => setTimeout(r, 5));
    }
    await Stepwise.garbageCollect({ keepNewest: 2 });
    const left = await Stepwise.listWorkflows({ limit: 100 });
    expect(left.map((w) => w.workflowID)).toEqual([keys[3], keys[2]]);
  });

  test("bad options are refused", async () => {
    await expect(Stepwise.garbageCollect({})).rejects.toBeInstanceOf(ConfigError);
    await expect(Stepwise.garbageCollect({ keepNewest: -1 })).rejects.toBeInstanceOf(ConfigError);
    await expect(Stepwise.garbageCollect({ olderThan: Number.NaN })).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("the launch option retention", () => {
  test("deletes ended runs on its schedule and leaves the rest", async () => {
    const logged: string[] = [];
    const logger = { debug() {}, info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };
    // Runs older than ~0.4 s go, checked every ~0.3 s.
    await Stepwise.launch({ dataDir: "memory://", logger, retention: { olderThanHours: 0.4 / 3600, everyMinutes: 0.3 / 60 } });
    try {
      await (await Stepwise.startWorkflow(job, { workflowID: "scheduled-old" })("scheduled-old")).getResult();
      const waiting = await Stepwise.startWorkflow(waitingParent, { workflowID: "scheduled-waiting" })("scheduled-waiting");
      for (let i = 0; i < 100 && (await Stepwise.getWorkflowStatus("scheduled-old")) !== null; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await Stepwise.getWorkflowStatus("scheduled-old")).toBeNull();
      expect((await Stepwise.getWorkflowStatus("scheduled-waiting"))!.status).toBe("PENDING");
      expect(logged.some((m) => /retention: deleted \d+ ended run\(s\)/.test(m))).toBe(true);
      await Stepwise.send("scheduled-waiting", "go", "go");
      expect(await waiting.getResult()).toBe("go");
    } finally {
      await Stepwise.shutdown();
    }
  });

  test("a bad schedule is refused before anything is opened", async () => {
    for (const retention of [{}, { olderThanHours: 0 }, { keepNewest: 1.5 }, { keepNewest: 10, everyMinutes: -1 }]) {
      await expect(Stepwise.launch({ dataDir: "memory://", retention })).rejects.toBeInstanceOf(ConfigError);
    }
    // Nothing was left launched.
    await Stepwise.launch({ dataDir: "memory://", logLevel: "silent" });
    await Stepwise.shutdown();
  });
});
