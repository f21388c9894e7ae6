/**
 * Workflow timeouts: a run started with timeoutMS is cancelled at its deadline, at its
 * next durable operation, with WorkflowTimeoutError as its outcome; children inherit the
 * deadline; a queued run's clock starts at dequeue; resume removes the timeout.
 * (The deadline surviving a SIGKILL is in timeouts-crash.test.ts.)
 */
import { describe, expect, test } from "vitest";
import { ConfigError, Queue, Stepwise, WorkflowCancelledError, WorkflowTimeoutError, step, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";

const log: string[] = [];
const note = step(async (entry: string) => void log.push(entry), { name: "timeouts.note" });
const slowNote = step(
  async (entry: string, ms: number) => {
    await new Promise((r) => setTimeout(r, ms));
    log.push(entry);
  },
  { name: "timeouts.slowNote" },
);

/** Notes `key:before`, sleeps durably, notes `key:after`. */
const napper = workflow(
  async (key: string, ms: number) => {
    await note(`${key}:before`);
    await Stepwise.sleep(ms);
    await note(`${key}:after`);
    return "woke";
  },
  { name: "timeouts.napper" },
);

/** A step that outlasts the deadline, then another step. */
const longStep = workflow(
  async (key: string) => {
    await slowNote(`${key}:slow`, 1500);
    await note(`${key}:next`);
    return "done";
  },
  { name: "timeouts.longStep" },
);

/** Starts a child that sleeps, then waits for it. */
const parent = workflow(
  async (key: string) => {
    await napper(`${key}/child`, 5_000);
    await note(`${key}:parent-after`);
  },
  { name: "timeouts.parent" },
);

const quick = workflow(async (key: string) => void (await note(`${key}:quick`)), { name: "timeouts.quick" });

const lane = new Queue("timeouts.lane", { concurrency: 1 });

describe.each(databases)("workflow timeouts on $name", (database) => {
  const { id } = launchedOn(database);

  test("a run still waiting at its deadline is cancelled there; its result throws WorkflowTimeoutError", async () => {
    const key = id("nap");
    const started = Date.now();
    const handle = await Stepwise.startWorkflow(napper, { workflowID: key, timeoutMS: 1000 })(key, 10_000);
    const error = await handle.getResult().catch((e) => e);
    // The durable sleep woke at the deadline, not after its 10 s.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(WorkflowTimeoutError);
    expect(error).toBeInstanceOf(WorkflowCancelledError);
    expect(error.message).toMatch(/timed out/);
    const status = (await handle.getStatus())!;
    expect(status.status).toBe("CANCELLED");
    expect(status.timeoutMS).toBe(1000);
    expect(status.deadline!.getTime()).toBeGreaterThanOrEqual(started + 1000);
    expect(status.deadline!.getTime()).toBeLessThan(started + 5_000);
    expect(log).toContain(`${key}:before`);
    expect(log).not.toContain(`${key}:after`);
    // Read back from the database, the outcome is the same error.
    const again = await Stepwise.retrieveWorkflow(key).getResult().catch((e) => e);
    expect(again).toBeInstanceOf(WorkflowTimeoutError);
  });

  test("a step in progress at the deadline finishes; the run stops before its next operation", async () => {
    const key = id("long");
    const handle = await Stepwise.startWorkflow(longStep, { workflowID: key, timeoutMS: 500 })(key);
    await expect(handle.getResult()).rejects.toBeInstanceOf(WorkflowTimeoutError);
    expect(log).toContain(`${key}:slow`);
    expect(log).not.toContain(`${key}:next`);
    expect((await Stepwise.listWorkflowSteps(key)).map((s) => s.stepID)).toEqual(["timeouts.slowNote"]);
  });

  test("a run that ends before its deadline is not touched by it", async () => {
    const key = id("fast");
    const handle = await Stepwise.startWorkflow(napper, { workflowID: key, timeoutMS: 1500 })(key, 10);
    expect(await handle.getResult()).toBe("woke");
    // Past its deadline now: still SUCCESS.
    const { deadline } = (await handle.getStatus())!;
    await new Promise((r) => setTimeout(r, Math.max(0, deadline!.getTime() - Date.now()) + 150));
    expect((await handle.getStatus())!.status).toBe("SUCCESS");
  });

  test("a child workflow inherits its parent's deadline, and both are cancelled at it", async () => {
    const key = id("parent");
    const handle = await Stepwise.startWorkflow(parent, { workflowID: key, timeoutMS: 1000 })(key);
    await expect(handle.getResult()).rejects.toBeInstanceOf(WorkflowTimeoutError);
    // Whichever timer fires first, the parent timed out: it did not fail with its child's error.
    expect((await handle.getStatus())!.status).toBe("CANCELLED");
    const [child] = (await Stepwise.listWorkflowSteps(key)).filter((s) => s.childWorkflowID);
    // The parent's deadline wakes it at once (it no longer waits for its child to end), so
    // the child's cancellation, due at the same instant, may be recorded a moment later.
    let childStatus = (await Stepwise.getWorkflowStatus(child!.childWorkflowID!))!;
    for (let tries = 0; childStatus.status === "PENDING" && tries < 100; tries++) {
      await new Promise((r) => setTimeout(r, 20));
      childStatus = (await Stepwise.getWorkflowStatus(child!.childWorkflowID!))!;
    }
    expect(childStatus.status).toBe("CANCELLED");
    expect(childStatus.timeoutMS).toBeNull();
    expect(childStatus.deadline!.getTime()).toBe((await handle.getStatus())!.deadline!.getTime());
    expect(log).toContain(`${key}/child:before`);
    expect(log).not.toContain(`${key}/child:after`);
    expect(log).not.toContain(`${key}:parent-after`);
  });

  test("a queued run's timeout starts when it is dequeued, not while it waits", async () => {
    const blocker = id("blocker");
    const waiting = id("waiting");
    // The lane runs one at a time: the second run waits ~2.5 s, longer than its 1.5 s timeout.
    const first = await Stepwise.startWorkflow(napper, { workflowID: blocker, queue: lane })(blocker, 2500);
    const second = await Stepwise.startWorkflow(napper, { workflowID: waiting, queue: lane, timeoutMS: 1500 })(waiting, 10);
    expect((await second.getStatus())!.deadline).toBeNull();
    expect(await first.getResult()).toBe("woke");
    expect(await second.getResult()).toBe("woke");
    const status = (await second.getStatus())!;
    expect(status.status).toBe("SUCCESS");
    expect(status.deadline!.getTime()).toBeGreaterThan(status.createdAt.getTime() + 2500);
  });

  test("resuming a timed-out run removes its timeout, and it runs to the end", async () => {
    const key = id("resume");
    const handle = await Stepwise.startWorkflow(napper, { workflowID: key, timeoutMS: 200 })(key, 800);
    await expect(handle.getResult()).rejects.toBeInstanceOf(WorkflowTimeoutError);
    await Stepwise.resumeWorkflow(key);
    expect(await Stepwise.retrieveWorkflow(key).getResult()).toBe("woke");
    const status = (await handle.getStatus())!;
    expect(status).toMatchObject({ status: "SUCCESS", timeoutMS: null, deadline: null });
    expect(log.filter((l) => l === `${key}:before`)).toHaveLength(1);
    expect(log).toContain(`${key}:after`);
  });

  test("a timeout that is not a positive number is refused", async () => {
    for (const timeoutMS of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => Stepwise.startWorkflow(quick, { timeoutMS })).toThrow(ConfigError);
    }
  });
});
