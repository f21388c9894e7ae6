/**
 * Starting a run by its workflow's name, as a service that does not define the workflow
 * would: the run waits in a queue, and a process that defines the workflow runs it.
 */
import { describe, expect, test } from "vitest";
import { ConfigError, Queue, Stepwise, StepwiseError, WorkflowConflictError, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";

const greet = workflow(async (who: string, times: number) => `hello ${who} x${times}`, { name: "enqueue.greet" });
const other = workflow(async () => "other", { name: "enqueue.other" });
const lane = new Queue("enqueue.lane", { concurrency: 1 });
const inside = workflow(async () => Stepwise.enqueue("enqueue.greet", {}, "nested", 1), { name: "enqueue.inside" });

describe.each(databases)("Stepwise.enqueue on $name", (database) => {
  const { id } = launchedOn(database);

  test("a run enqueued by name runs where the workflow is defined, with its arguments", async () => {
    const key = id("by-name");
    const handle = await Stepwise.enqueue<string>("enqueue.greet", { workflowID: key }, "ada", 3);
    expect(handle.workflowID).toBe(key);
    expect(await handle.getResult()).toBe("hello ada x3");
    expect((await Stepwise.getWorkflowStatus(key))!.name).toBe("enqueue.greet");
    // The ID is an idempotency key, as for startWorkflow.
    expect(await (await Stepwise.enqueue("enqueue.greet", { workflowID: key }, "someone else", 1)).getResult()).toBe("hello ada x3");
  });

  test("on a queue of the caller's choice, with its options", async () => {
    const key = id("on-lane");
    await Stepwise.enqueue("enqueue.greet", { workflowID: key, queue: lane, priority: 2, timeoutMS: 60_000 }, "bob", 1);
    expect(await Stepwise.retrieveWorkflow(key).getResult()).toBe("hello bob x1");
    const [status] = await Stepwise.listWorkflows({ queueName: "enqueue.lane" });
    expect(status).toMatchObject({ workflowID: key, timeoutMS: 60_000 });
  });

  test("an ID held by another workflow, bad options and workflow code are refused", async () => {
    const key = id("taken");
    await (await Stepwise.startWorkflow(other, { workflowID: key })()).getResult();
    await expect(Stepwise.enqueue("enqueue.greet", { workflowID: key })).rejects.toBeInstanceOf(WorkflowConflictError);
    await expect(Stepwise.enqueue("enqueue.greet", { priority: 1 })).rejects.toBeInstanceOf(ConfigError);
    await expect(Stepwise.enqueue("")).rejects.toBeInstanceOf(ConfigError);
    const error = await inside().catch((e) => e);
    expect(error).toBeInstanceOf(StepwiseError);
    expect(error.message).toMatch(/inside a workflow.*startWorkflow/);
  });
});
