import { describe, expect, test } from "vitest";
import { Queue, QueueDeduplicatedError, SerializationError, Stepwise, StepwiseError, step, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";
import { sql } from "../helpers/sql.js";
import { serialize } from "../../runtime/serialize.js";
import { INTERNAL_QUEUE } from "../../runtime/sysdb/system-database.js";

const log: string[] = [];
const note = step(async (entry: string) => void log.push(entry), { name: "note" });

const inbox = workflow(
  async (count: number, topic: string | undefined, timeoutSeconds: number) => {
    const got: unknown[] = [];
    for (let i = 0; i < count; i++) got.push(await Stepwise.recv(topic, timeoutSeconds));
    return got;
  },
  { name: "inbox" },
);

const publisher = workflow(
  async (values: unknown[]) => {
    for (const value of values) await Stepwise.setEvent("progress", value);
    return "published";
  },
  { name: "publisher" },
);

const sender = workflow(
  async (to: string, messages: string[], topic?: string) => {
    for (const m of messages) await Stepwise.send(to, m, topic);
  },
  { name: "sender" },
);

const sleeper = workflow(
  async (ms: number) => {
    const before = await Stepwise.now();
    await Stepwise.sleep(ms);
    const after = await Stepwise.now();
    return { before, after, id: await Stepwise.randomUUID() };
  },
  { name: "sleeper" },
);

const sendInStep = workflow(
  async (to: string) => step(async () => Stepwise.send(to, "x"), { name: "sendInStep.inner" })(),
  { name: "sendInStep" },
);

const cancellable = workflow(
  async (key: string) => {
    await note(`${key}:before`);
    await Stepwise.recv("never", 30);
    await note(`${key}:after`);
    return "finished";
  },
  { name: "cancellable" },
);

// A parent that waits inside a step on a gate the test opens, then starts a child.
const gates = new Map<string, () => void>();
const childOfCancelled = workflow(async (key: string) => void log.push(`${key}:child`), { name: "childOfCancelled" });
const parentOfChild = workflow(
  async (key: string) => {
    await step(async () => new Promise<void>((open) => gates.set(key, open)), { name: "parentOfChild.gate" })();
    await childOfCancelled(key);
    return "parent";
  },
  { name: "parentOfChild" },
);

const threeSteps = workflow(
  async (key: string) => {
    await note(`${key}:1`);
    await note(`${key}:2`);
    await note(`${key}:3`);
    return "three";
  },
  { name: "threeSteps" },
);

// Queue workloads: each records when it ran, so limits can be checked afterwards.
const intervals: { key: string; start: number; end: number }[] = [];
const timed = workflow(
  async (key: string, ms: number) => {
    await step(
      async () => {
        const start = Date.now();
        await new Promise((r) => setTimeout(r, ms));
        intervals.push({ key, start, end: Date.now() });
      },
      { name: "timed.work" },
    )();
    return key;
  },
  { name: "timed" },
);
const narrow = new Queue("narrow", { concurrency: 2 });
const single = new Queue("single", { concurrency: 1 });
const dedup = new Queue("dedup");
const perWorker = new Queue("perWorker", { workerConcurrency: 1 });
const limited = new Queue("limited", { rateLimit: { limitPerPeriod: 2, periodSec: 0.5 } });

function maxOverlap(list: { start: number; end: number }[]): number {
  const edges = list.flatMap((i) => [[i.start, 1] as const, [i.end, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (current += d));
  return max;
}

describe.each(databases)("messaging, queues and management on $name", (database) => {
  const { id } = launchedOn(database);

  test("send and recv: FIFO per topic, each message delivered once, replayed from the record", async () => {
    const receiver = id("inbox");
    const handle = await Stepwise.startWorkflow(inbox, { workflowID: receiver })(3, "orders", 10);
    await Stepwise.send(receiver, "ignored: other topic", "payments");
    await (await Stepwise.startWorkflow(sender, { workflowID: id("sender") })(receiver, ["a", "b", "c"], "orders")).getResult();
    expect(await handle.getResult()).toEqual(["a", "b", "c"]);
    expect(await sql(`SELECT message FROM stepwise.notifications WHERE destination_id = $1`, [receiver])).toHaveLength(1);

    const steps = await Stepwise.listWorkflowSteps(receiver);
    expect(steps.map((s) => s.stepID)).toEqual(["Stepwise.sleep", "Stepwise.recv", "Stepwise.sleep", "Stepwise.recv", "Stepwise.sleep", "Stepwise.recv"]);

    // Replaying the receiver consumes nothing again.
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [receiver]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(receiver).getResult()).toEqual(["a", "b", "c"]);
    expect(await sql(`SELECT message FROM stepwise.notifications WHERE destination_id = $1`, [receiver])).toHaveLength(1);
  });

  test("recv that times out returns null, and the null is what a replay sees", async () => {
    const receiver = id("timeout");
    const started = Date.now();
    expect(await (await Stepwise.startWorkflow(inbox, { workflowID: receiver })(1, undefined, 0.3)).getResult()).toEqual([null]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await Stepwise.send(receiver, "late");
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [receiver]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(receiver).getResult()).toEqual([null]);
  });

  test("send is refused for an unknown workflow and for a value that cannot be stored", async () => {
    await expect(Stepwise.send(id("nobody"), "hello")).rejects.toThrow(/no workflow has the ID/);
    const receiver = id("target");
    const h = await Stepwise.startWorkflow(inbox, { workflowID: receiver })(1, undefined, 5);
    await expect(Stepwise.send(receiver, { callback: () => 1 })).rejects.toBeInstanceOf(SerializationError);
    await expect(Stepwise.send(receiver, { callback: () => 1 })).rejects.toThrow("the message.callback is a function");
    await Stepwise.send(receiver, { ok: new Date(5) });
    expect(await h.getResult()).toEqual([{ ok: new Date(5) }]);
  });

  test("send inside a step is refused at run time with the rule's code", async () => {
    const receiver = id("target");
    await Stepwise.startWorkflow(inbox, { workflowID: receiver })(1, undefined, 1);
    const error = await sendInStep(receiver).catch((e) => e);
    expect(error).toBeInstanceOf(StepwiseError);
    expect(error.message).toMatch(/^SW1002: Stepwise.send was called inside step 'sendInStep.inner'/);
  });

  test("setEvent and getEvent: the latest value wins; getEvent waits, or returns null on timeout", async () => {
    const pub = id("publisher");
    const waiting = (async () => {
      // Outside any workflow, getEvent waits for the event to appear.
      for (;;) {
        const status = await Stepwise.getWorkflowStatus(pub);
        if (status) return Stepwise.getEvent(pub, "progress", 10);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await (await Stepwise.startWorkflow(publisher, { workflowID: pub })([1, 2, { done: true }])).getResult();
    expect(await waiting).not.toBeNull();
    expect(await Stepwise.getEvent(pub, "progress", 1)).toEqual({ done: true });
    const started = Date.now();
    expect(await Stepwise.getEvent(pub, "missing", 0.2)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  test("durable sleep records its wake-up time; now and randomUUID are recorded", async () => {
    const wf = id("sleeper");
    const result = await (await Stepwise.startWorkflow(sleeper, { workflowID: wf })(200)).getResult();
    expect(result.after - result.before).toBeGreaterThanOrEqual(195);
    const steps = await Stepwise.listWorkflowSteps(wf);
    expect(steps.map((s) => s.stepID)).toEqual(["Stepwise.now", "Stepwise.sleep", "Stepwise.now", "Stepwise.randomUUID"]);
    expect(steps[1]!.output).toBe((steps[0]!.output as number) + 200 + (steps[1]!.startedAt.getTime() - (steps[0]!.output as number)));

    // A replay sleeps no longer (the wake-up is in the past) and sees the same instants and UUID.
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [wf]);
    const started = Date.now();
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(wf).getResult()).toEqual(result);
    expect(Date.now() - started).toBeLessThan(150);
  });

  test("a queue's concurrency limit holds and every run completes", async () => {
    const keys = Array.from({ length: 6 }, (_, i) => id(`narrow${i}`));
    const handles = await Promise.all(keys.map((k) => Stepwise.startWorkflow(timed, { workflowID: k, queue: narrow })(k, 60)));
    expect((await handles[5]!.getStatus())!.status).toMatch(/ENQUEUED|PENDING/);
    expect(await Promise.all(handles.map((h) => h.getResult()))).toEqual(keys);
    expect(maxOverlap(intervals.filter((i) => keys.includes(i.key)))).toBe(2);
  });

  test("workerConcurrency caps the runs of a queue in one process", async () => {
    const keys = Array.from({ length: 4 }, (_, i) => id(`perWorker${i}`));
    const handles = await Promise.all(keys.map((k) => Stepwise.startWorkflow(timed, { workflowID: k, queue: perWorker })(k, 40)));
    expect(await Promise.all(handles.map((h) => h.getResult()))).toEqual(keys);
    expect(maxOverlap(intervals.filter((i) => keys.includes(i.key)))).toBe(1);
  });

  test("a rate limit starts at most limitPerPeriod runs per period", async () => {
    const keys = Array.from({ length: 6 }, (_, i) => id(`limited${i}`));
    const handles = await Promise.all(keys.map((k) => Stepwise.startWorkflow(timed, { workflowID: k, queue: limited })(k, 1)));
    await Promise.all(handles.map((h) => h.getResult()));
    // The limit is on dequeues (a run's started_at), not on when its first step gets the CPU,
    // which a loaded machine delays by different amounts for different runs.
    const rows = await sql<{ started_at: string }>(`SELECT started_at FROM stepwise.workflow_status WHERE workflow_id = ANY($1)`, [keys]);
    const starts = rows.map((r) => Number(r.started_at)).sort((a, b) => a - b);
    expect(starts).toHaveLength(6);
    expect(intervals.filter((i) => keys.includes(i.key))).toHaveLength(6);
    // Any three dequeues span at least the period: never three in one half second.
    for (let i = 2; i < starts.length; i++) expect(starts[i]! - starts[i - 2]!).toBeGreaterThanOrEqual(500);
  });

  test("priorities: lower runs first", async () => {
    const gate = id("gate");
    const gateHandle = await Stepwise.startWorkflow(timed, { workflowID: gate, queue: single })(gate, 150);
    await new Promise((r) => setTimeout(r, 30));
    const order = [5, 1, 3].map((p) => ({ p, key: id(`p${p}`) }));
    const handles = [];
    for (const { p, key } of order) handles.push(await Stepwise.startWorkflow(timed, { workflowID: key, queue: single, priority: p })(key, 5));
    await gateHandle.getResult();
    await Promise.all(handles.map((h) => h.getResult()));
    const ran = intervals.filter((i) => order.some((o) => o.key === i.key)).sort((a, b) => a.start - b.start);
    expect(ran.map((i) => order.find((o) => o.key === i.key)!.p)).toEqual([1, 3, 5]);
  });

  test("deduplication IDs: refused while a run with the ID waits or runs, free again after", async () => {
    const first = await Stepwise.startWorkflow(timed, { queue: dedup, deduplicationID: "user-7" })(id("d1"), 80);
    await expect(Stepwise.startWorkflow(timed, { queue: dedup, deduplicationID: "user-7" })(id("d2"), 1)).rejects.toBeInstanceOf(
      QueueDeduplicatedError,
    );
    await first.getResult();
    const again = await Stepwise.startWorkflow(timed, { queue: dedup, deduplicationID: "user-7" })(id("d3"), 1);
    expect(typeof (await again.getResult())).toBe("string");
  });

  test("cancel stops a run at its next durable operation; resume finishes it from its last step", async () => {
    const key = id("cancel");
    const handle = await Stepwise.startWorkflow(cancellable, { workflowID: key })(key);
    for (let i = 0; i < 200 && !log.includes(`${key}:before`); i++) await new Promise((r) => setTimeout(r, 5));
    expect(await Stepwise.cancelWorkflow(key)).toBe(true);
    await expect(handle.getResult()).rejects.toThrow(/cancelled/);
    expect((await handle.getStatus())!.status).toBe("CANCELLED");
    expect(log).not.toContain(`${key}:after`);

    const resumed = await Stepwise.resumeWorkflow(key);
    await Stepwise.send(key, "go", "never");
    expect(await resumed.getResult()).toBe("finished");
    expect(log.filter((l) => l === `${key}:before`)).toHaveLength(1);
    expect(log.filter((l) => l === `${key}:after`)).toHaveLength(1);
  });

  test("a queued run of a workflow this process does not have is left for a process that has it", async () => {
    const name = id("routing.elsewhere");
    const key = id("routed");
    const now = Date.now();
    // What the CLI's resume, or a process with other workflows, leaves in the internal queue.
    await sql(
      `INSERT INTO stepwise.workflow_status (workflow_id, name, status, inputs, executor_id, created_at, updated_at, queue_name)
       VALUES ($1, $2, 'ENQUEUED', $3, 'someone-else', $4, $4, $5)`,
      [key, name, serialize([21]), now, INTERNAL_QUEUE],
    );
    await new Promise((r) => setTimeout(r, 2500)); // more than one poll of every queue
    expect(await Stepwise.getWorkflowStatus(key)).toMatchObject({ status: "ENQUEUED", recoveryError: null });
    // Once this process has the workflow, it takes the run.
    workflow(async (n: number) => n * 2, { name });
    expect(await Stepwise.retrieveWorkflow(key).getResult()).toBe(42);
  });

  test("a run cancelled inside a step starts no child workflow after it", async () => {
    const key = id("cancel-child");
    const handle = await Stepwise.startWorkflow(parentOfChild, { workflowID: key })(key);
    for (let i = 0; i < 400 && !gates.has(key); i++) await new Promise((r) => setTimeout(r, 5));
    expect(await Stepwise.cancelWorkflow(key)).toBe(true);
    gates.get(key)!();
    await expect(handle.getResult()).rejects.toThrow(/cancelled/);
    expect((await handle.getStatus())!.status).toBe("CANCELLED");
    expect(log).not.toContain(`${key}:child`);
    // The child would have been recorded at function ID 1 with the derived ID.
    expect((await Stepwise.listWorkflowSteps(key)).map((s) => s.stepID)).toEqual(["parentOfChild.gate"]);
    expect(await Stepwise.retrieveWorkflow(`${key}-1`).getStatus()).toBeNull();
  });

  test("fork from a function ID keeps what came before and runs the rest again", async () => {
    const key = id("fork");
    await (await Stepwise.startWorkflow(threeSteps, { workflowID: key })(key)).getResult();
    const forked = await Stepwise.forkWorkflow(key, 2, { newWorkflowID: `${key}-fork` });
    expect(forked.workflowID).toBe(`${key}-fork`);
    expect(await forked.getResult()).toBe("three");
    expect(log.filter((l) => l.startsWith(`${key}:`))).toEqual([`${key}:1`, `${key}:2`, `${key}:3`, `${key}:3`]);
    expect((await Stepwise.listWorkflowSteps(`${key}-fork`)).map((s) => s.functionID)).toEqual([0, 1, 2]);
  });

  test("listWorkflows filters by status and name, newest first", async () => {
    const all = await Stepwise.listWorkflows({ name: "threeSteps" });
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(all.every((w) => w.name === "threeSteps")).toBe(true);
    expect(all[0]!.createdAt.getTime()).toBeGreaterThanOrEqual(all.at(-1)!.createdAt.getTime());
    const cancelled = await Stepwise.listWorkflows({ status: "CANCELLED" });
    expect(cancelled.every((w) => w.status === "CANCELLED")).toBe(true);
  });
});
