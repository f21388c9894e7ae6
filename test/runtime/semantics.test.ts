/**
 * Semantics a DBOS user relies on, each found wrong by a peer's test suite (issue 14,
 * point 4): errors for unknown IDs, idempotent resume, queue priority range and FIFO
 * order, a refused enqueue replayed as refused, what a fork sees, and durable waits on
 * another run's result woken by cancellation and timeouts.
 */
import { describe, expect, test } from "vitest";
import {
  ConfigError,
  Queue,
  QueueDeduplicatedError,
  Stepwise,
  WorkflowCancelledError,
  WorkflowNotFoundError,
  WorkflowTimeoutError,
  step,
  workflow,
} from "stepwise";
import { databases } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";
import { sql } from "../helpers/sql.js";

let countedRuns = 0;
const counted = step(async (n: number) => (countedRuns++, n * 2), { name: "semantics.counted" });
const doubles = workflow(async (n: number) => counted(n), { name: "semantics.doubles" });
const fails = workflow(async () => {
  await counted(1);
  throw new Error("no");
}, { name: "semantics.fails" });

const sendsTo = workflow(
  async (destination: string) => {
    try {
      await Stepwise.send(destination, "hi");
      return "sent";
    } catch (error) {
      return (error as Error).name;
    }
  },
  { name: "semantics.sendsTo" },
);

const fifoOrder: number[] = [];
const fifoJob = workflow(async (n: number) => void fifoOrder.push(n), { name: "semantics.fifoJob" });

const waits = workflow(async (seconds: number) => Stepwise.recv<string>("never", seconds), { name: "semantics.waits" });

/** Enqueues two children with one deduplication ID; the second is refused while the first waits. */
const dedupParent = workflow(
  async (queueName: string, dedupID: string) => {
    await Stepwise.startWorkflow(waits, { queue: queueName, deduplicationID: dedupID })(1);
    try {
      await Stepwise.startWorkflow(waits, { queue: queueName, deduplicationID: dedupID })(1);
      return "enqueued";
    } catch (error) {
      return (error as Error).name;
    }
  },
  { name: "semantics.dedupParent" },
);

const publisher = workflow(
  async () => {
    await Stepwise.setEvent("a", "first");
    await Stepwise.setEvent("b", "kept");
    await Stepwise.recv("go", 30);
    await Stepwise.setEvent("a", "second");
    await Stepwise.setEvent("c", "later");
    return "done";
  },
  { name: "semantics.publisher" },
);

const awaitsChildHandle = workflow(
  async () => {
    const handle = await Stepwise.startWorkflow(waits)(60);
    return handle.getResult();
  },
  { name: "semantics.awaitsChildHandle" },
);
const awaitsRetrieved = workflow(async (workflowID: string) => Stepwise.retrieveWorkflow(workflowID).getResult(), {
  name: "semantics.awaitsRetrieved",
});

/** Resolves with what `promise` settles to, or "still waiting" after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | Error | "still waiting"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"still waiting">((resolve) => (timer = setTimeout(() => resolve("still waiting"), ms)));
  try {
    return await Promise.race([promise.catch((error: Error) => error), late]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each(databases)("semantics on $name", (database) => {
  const { id } = launchedOn(database);

  test("send to an unknown workflow ID is a WorkflowNotFoundError, outside and inside a workflow", async () => {
    const error = await Stepwise.send(id("nobody"), "hello").catch((e) => e);
    expect(error).toBeInstanceOf(WorkflowNotFoundError);
    expect(error.message).toMatch(/no workflow has the ID/);
    expect(await sendsTo(id("nobody"))).toBe("WorkflowNotFoundError");
  });

  test("resumeWorkflow of a run that ended is a no-op returning its handle; an unknown ID is a WorkflowNotFoundError", async () => {
    const ok = id("resume-ok");
    expect(await (await Stepwise.startWorkflow(doubles, { workflowID: ok })(4)).getResult()).toBe(8);
    const before = countedRuns;
    const handle = await Stepwise.resumeWorkflow(ok);
    expect(handle.workflowID).toBe(ok);
    expect(await handle.getResult()).toBe(8);
    expect((await Stepwise.getWorkflowStatus(ok))!.status).toBe("SUCCESS");
    expect(countedRuns).toBe(before);

    const failed = id("resume-failed");
    await expect(Stepwise.startWorkflow(fails, { workflowID: failed })().then((h) => h.getResult())).rejects.toThrow("no");
    await expect((await Stepwise.resumeWorkflow(failed)).getResult()).rejects.toThrow("no");
    expect((await Stepwise.getWorkflowStatus(failed))!.status).toBe("ERROR");

    await expect(Stepwise.resumeWorkflow(id("nobody"))).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  test("a queue priority outside 0..2^31-1 is a ConfigError, before anything reaches the database", async () => {
    for (const priority of [-1, 2 ** 31, 1.5, NaN]) {
      expect(() => Stepwise.startWorkflow(doubles, { queue: "semantics.anyq", priority }), String(priority)).toThrow(ConfigError);
    }
    await expect(Stepwise.enqueue("semantics.doubles", { queue: "semantics.anyq", priority: -5 }, 1)).rejects.toBeInstanceOf(ConfigError);
    expect(() => Stepwise.startWorkflow(doubles, { queue: "semantics.anyq", priority: 2 ** 31 - 1 })).not.toThrow();
  });

  test("runs of one priority leave their queue in enqueue order, even when enqueued in the same millisecond", async () => {
    const queueName = `semantics.fifo.${database.name}`;
    const ids: string[] = [];
    // IDs that sort the other way round from the enqueue order, so that no tie-break on the ID can pass.
    for (let n = 0; n < 8; n++) {
      const workflowID = `${id("fifo")}-${9 - n}`;
      ids.push(workflowID);
      await Stepwise.startWorkflow(fifoJob, { workflowID, queue: queueName })(n);
    }
    // The same millisecond for all of them, as a burst of enqueues gets.
    await sql(`UPDATE stepwise.workflow_status SET created_at = 1000 WHERE queue_name = $1`, [queueName]);
    fifoOrder.length = 0;
    new Queue(queueName, { concurrency: 1 }); // Only now does this process dequeue from it.
    for (const workflowID of ids) await Stepwise.retrieveWorkflow(workflowID).getResult();
    expect(fifoOrder).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test("an enqueue refused for its deduplication ID is recorded as refused: a replay refuses it again", async () => {
    const queueName = `semantics.dedup.${database.name}`; // No process dequeues it: the first child keeps the ID.
    const parentID = id("dedup-parent");
    const dedupID = id("dedup");
    expect(await (await Stepwise.startWorkflow(dedupParent, { workflowID: parentID })(queueName, dedupID)).getResult()).toBe(
      "QueueDeduplicatedError",
    );
    const steps = await Stepwise.listWorkflowSteps(parentID);
    expect(steps).toHaveLength(2);
    expect(steps[1]!.error).toBeInstanceOf(QueueDeduplicatedError);
    expect(steps[1]!.childWorkflowID).toBeNull();
    // The ID is free again once the first child ends; a replay must still see the refusal.
    expect(await Stepwise.cancelWorkflow(steps[0]!.childWorkflowID!)).toBe(true);
    const fork = await Stepwise.forkWorkflow(parentID, 2);
    expect(await fork.getResult()).toBe("QueueDeduplicatedError");
    expect(await sql(`SELECT 1 FROM stepwise.workflow_status WHERE deduplication_id = $1`, [dedupID])).toHaveLength(0);
  });

  test("a fork from function ID N sees the events its kept operations set, and not the later ones", async () => {
    const original = id("publisher");
    const handle = await Stepwise.startWorkflow(publisher, { workflowID: original })();
    await Stepwise.send(original, "go", "go");
    expect(await handle.getResult()).toBe("done");
    // Kept: setEvent a=first (0), setEvent b=kept (1); the fork waits in its recv (2, 3).
    const fork = await Stepwise.forkWorkflow(original, 2);
    expect(await Stepwise.getEvent(fork.workflowID, "a", 0)).toBe("first");
    expect(await Stepwise.getEvent(fork.workflowID, "b", 0)).toBe("kept");
    expect(await Stepwise.getEvent(fork.workflowID, "c", 0)).toBeNull();
    await Stepwise.send(fork.workflowID, "go", "go");
    expect(await fork.getResult()).toBe("done");
    expect(await Stepwise.getEvent(fork.workflowID, "a", 0)).toBe("second");
    expect(await Stepwise.getEvent(original, "a", 0)).toBe("second");
  });

  test("cancelWorkflow wakes a parent waiting on its child handle's getResult()", async () => {
    const parentID = id("awaits-child");
    const handle = await Stepwise.startWorkflow(awaitsChildHandle, { workflowID: parentID })();
    await until(async () => (await Stepwise.getWorkflowStatus(`${parentID}-0`))?.status === "PENDING");
    await new Promise((r) => setTimeout(r, 200));
    await Stepwise.cancelWorkflow(parentID);
    expect(await within(handle.getResult(), 5000)).toBeInstanceOf(WorkflowCancelledError);
    await Stepwise.cancelWorkflow(`${parentID}-0`);
  });

  test("cancelWorkflow wakes a workflow waiting in retrieveWorkflow(id).getResult(), running here or not", async () => {
    const running = id("target-running");
    await Stepwise.startWorkflow(waits, { workflowID: running })(60);
    const queued = id("target-queued");
    await Stepwise.startWorkflow(waits, { workflowID: queued, queue: `semantics.nobody.${database.name}` })(60);
    for (const target of [running, queued]) {
      const waiter = await Stepwise.startWorkflow(awaitsRetrieved, { workflowID: id("waiter") })(target);
      await new Promise((r) => setTimeout(r, 300));
      await Stepwise.cancelWorkflow(waiter.workflowID);
      expect(await within(waiter.getResult(), 5000), target).toBeInstanceOf(WorkflowCancelledError);
      expect((await Stepwise.getWorkflowStatus(target))!.status).not.toBe("CANCELLED");
    }
    await Stepwise.cancelWorkflow(running);
    await Stepwise.cancelWorkflow(queued);
  });

  test("a workflow's timeout wakes it while it waits on another run's result", async () => {
    const target = id("target");
    await Stepwise.startWorkflow(waits, { workflowID: target })(60);
    const waiter = await Stepwise.startWorkflow(awaitsRetrieved, { workflowID: id("timed-waiter"), timeoutMS: 300 })(target);
    expect(await within(waiter.getResult(), 5000)).toBeInstanceOf(WorkflowTimeoutError);
    expect((await Stepwise.getWorkflowStatus(waiter.workflowID))!.status).toBe("CANCELLED");
    await Stepwise.cancelWorkflow(target);
  });
});

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("never happened");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(databases)("what docs/concepts.md says a timed wait records, on $name", (database) => {
  const { id } = launchedOn(database);

  test("its deadline first, then what the wait returned; and it no longer claims DBOS's order", async () => {
    const key = id("timed-wait");
    expect(await (await Stepwise.startWorkflow(waits, { workflowID: key })(0.05)).getResult()).toBeNull();
    expect((await Stepwise.listWorkflowSteps(key)).map((s) => s.stepID)).toEqual(["Stepwise.sleep", "Stepwise.recv"]);
    const readme = (await import("node:fs")).readFileSync(new URL("../../docs/concepts.md", import.meta.url), "utf8").replace(/\s+/g, " ");
    expect(readme).toContain("the first records its deadline (`Stepwise.sleep`) before it waits");
    expect(readme).toContain("DBOS Transact also takes two, in the other order");
    expect(readme).not.toMatch(/takes two function IDs, as in DBOS/);
  });
});
