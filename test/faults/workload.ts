/**
 * The fault suite's workload, shared by the worker process and the test that enqueues
 * it: jobs with side-effecting steps, events, durable sleeps and messages to a
 * collector per batch, on two queues.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { Queue, Stepwise, step, workflow } from "../../runtime/index.js";

export const jobs = new Queue("faults.jobs", { concurrency: 8 });
export const collectors = new Queue("faults.collectors");
export const STEPS = 3;
export const BATCH = 10;

/** One line per execution of a step body: workflow, step, a token, start time. */
const effect = step(
  async (s: number) => {
    const token = randomUUID();
    fs.appendFileSync(process.env.FAULT_EFFECTS!, `${Stepwise.workflowID} ${s} ${token} ${Date.now()}\n`);
    await new Promise((r) => setTimeout(r, 10 + Math.floor(Math.random() * 30)));
    return token;
  },
  { name: "faults.effect" },
);

export const job = workflow(
  async (batch: number, i: number) => {
    for (let s = 0; s < STEPS; s++) {
      await effect(s);
      await Stepwise.setEvent("progress", s);
    }
    await Stepwise.sleep(30);
    if (i % 2 === 0) await Stepwise.send(`collector-${batch}`, Stepwise.workflowID, "done");
    return i;
  },
  { name: "faults.job" },
);

/** Receives the messages of its batch's even jobs. */
export const collector = workflow(
  async (count: number) => {
    const got: string[] = [];
    for (let k = 0; k < count; k++) {
      const message = await Stepwise.recv<string>("done", 600);
      if (message === null) throw new Error("collector timed out");
      got.push(message);
    }
    return got;
  },
  { name: "faults.collector" },
);
