/**
 * Scheduled workflows: a run per cron tick with the tick's time, under an ID derived from
 * it; through a queue when asked; one run per tick however many processes fire it.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { ConfigError, Queue, Stepwise, step, workflow } from "stepwise";
import { databases, tempDir } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";
import { sql } from "../helpers/sql.js";
import { requireExecutor } from "../../runtime/executor.js";
import { serialize } from "../../runtime/serialize.js";
import { readLog, withWorkerLog } from "../helpers/crash-worker.js";

const ticks: { runID: string; scheduledAt: string }[] = [];
const record = step(async (scheduledAt: string) => void ticks.push({ runID: Stepwise.workflowID!, scheduledAt }), { name: "schedule.record" });
const everySecond = workflow(async (scheduledAt: Date) => record(scheduledAt.toISOString()), { name: "schedule.everySecond" });
// Defined before any launch: each launch below starts firing it.
Stepwise.schedule(everySecond, { cron: "* * * * * *" });

const lane = new Queue("schedule.lane");
const queuedTicks: string[] = [];
const queued = workflow(async (scheduledAt: Date) => void queuedTicks.push(scheduledAt.toISOString()), { name: "schedule.queued" });
Stepwise.schedule(queued, { cron: "*/2 * * * * *", queue: lane });

const waitFor = async (ok: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; !ok() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
};

describe.each(databases)("scheduled workflows on $name", (database) => {
  launchedOn(database);

  test("a run per tick, given the tick's time, under an ID made of the workflow and the tick", async () => {
    const before = ticks.length;
    await waitFor(() => ticks.length >= before + 2);
    const mine = ticks.slice(before);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    for (const { runID, scheduledAt } of mine) {
      expect(scheduledAt).toMatch(/:\d\d\.000Z$/);
      expect(runID).toBe(`schedule:schedule.everySecond:${scheduledAt}`);
      // The step ran; the run's end is recorded just after.
      await Stepwise.retrieveWorkflow(runID).getResult();
      expect((await Stepwise.getWorkflowStatus(runID))!.status).toBe("SUCCESS");
    }
    // Whole seconds apart, each once (runs may finish out of order, so this window may start mid-sequence).
    const times = mine.map((t) => Date.parse(t.scheduledAt)).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) {
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1000);
      expect((times[i]! - times[i - 1]!) % 1000).toBe(0);
    }
  });

  test("a tick whose run another process (even one with this executor ID) recorded first is left to it", async () => {
    // What a second live process with the same executor ID leaves: the tick's run, PENDING and ours, not running here.
    const tick = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000);
    const runID = `schedule:schedule.everySecond:${tick.toISOString()}`;
    const now = Date.now();
    await sql(
      `INSERT INTO stepwise.workflow_status (workflow_id, name, status, inputs, executor_id, created_at, updated_at, started_at)
       VALUES ($1, 'schedule.everySecond', 'PENDING', $2, $3, $4, $4, $4)`,
      [runID, serialize([tick]), requireExecutor().executorID, now],
    );
    await waitFor(() => ticks.some((t) => Date.parse(t.scheduledAt) > tick.getTime()));
    expect(ticks.filter((t) => t.runID === runID)).toEqual([]);
    expect((await Stepwise.getWorkflowStatus(runID))!.status).toBe("PENDING");
    await sql(`DELETE FROM stepwise.workflow_status WHERE workflow_id = $1`, [runID]);
  });

  test("with a queue, each tick's run goes through it", async () => {
    const before = queuedTicks.length;
    await waitFor(() => queuedTicks.length > before);
    const tick = queuedTicks.at(-1)!;
    expect(Date.parse(tick) % 2000).toBe(0);
    await Stepwise.retrieveWorkflow(`schedule:schedule.queued:${tick}`).getResult();
    const status = (await Stepwise.getWorkflowStatus(`schedule:schedule.queued:${tick}`))!;
    expect(status.status).toBe("SUCCESS");
    expect((await Stepwise.listWorkflows({ queueName: "schedule.lane", limit: 1 }))[0]!.workflowID).toMatch(/^schedule:schedule\.queued:/);
  });
});

describe("defining schedules", () => {
  test("after launch a schedule fires at once; shutdown stops it", async () => {
    const seen: string[] = [];
    const late = workflow(async (scheduledAt: Date) => void seen.push(scheduledAt.toISOString()), { name: "schedule.late" });
    await Stepwise.launch({ dataDir: "memory://", logLevel: "silent" });
    try {
      Stepwise.schedule(late, { cron: "* * * * * *", timezone: "America/New_York" });
      await waitFor(() => seen.length >= 1);
      expect(seen.length).toBeGreaterThanOrEqual(1);
    } finally {
      await Stepwise.shutdown();
    }
    const after = seen.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(seen.length).toBe(after);
  });

  test("with timeoutMS, each tick's run is cancelled at its deadline", async () => {
    const slow = workflow(async () => Stepwise.sleep(10_000), { name: "schedule.slow" });
    await Stepwise.launch({ dataDir: "memory://", logLevel: "silent" });
    try {
      Stepwise.schedule(slow, { cron: "* * * * * *", timeoutMS: 300 });
      let cancelled: Awaited<ReturnType<typeof Stepwise.listWorkflows>> = [];
      for (const end = Date.now() + 10_000; cancelled.length === 0 && Date.now() < end; ) {
        cancelled = await Stepwise.listWorkflows({ name: "schedule.slow", status: "CANCELLED" });
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(cancelled[0]).toMatchObject({ timeoutMS: 300 });
      expect(cancelled[0]!.workflowID).toMatch(/^schedule:schedule\.slow:/);
    } finally {
      await Stepwise.shutdown();
    }
  });

  test("catchUp: the ticks missed while no process ran are run at the next launch; without it they are not", async () => {
    const dir = tempDir("stepwise-catchup-");
    const caught = new Set<string>();
    const catcher = workflow(async (scheduledAt: Date) => void caught.add(scheduledAt.toISOString()), { name: "schedule.catcher" });
    Stepwise.schedule(catcher, { cron: "* * * * * *", catchUp: true });
    try {
      await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
      await waitFor(() => caught.size >= 2);
      await Stepwise.shutdown();
      const down = Date.now();
      await new Promise((r) => setTimeout(r, 3500)); // about three ticks with no process up

      await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
      const relaunched = Date.now();
      await waitFor(() => [...caught].some((t) => Date.parse(t) > relaunched + 1000));
      const times = [...caught].map(Date.parse).sort((a, b) => a - b);
      // Every second from the first run to the latest, the downtime included, each once.
      expect(times.filter((t) => t > down && t < relaunched).length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1000);
      // The schedule without catchUp, in the same database, has the gap.
      const plain = (await Stepwise.listWorkflows({ name: "schedule.everySecond", limit: 1000 })).map((w) => Date.parse(w.workflowID.split(":").slice(2).join(":")));
      expect(plain.some((t) => t > down + 1000 && t < relaunched - 1000)).toBe(false);
    } finally {
      await Stepwise.shutdown();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bad schedules are refused with what to fix", () => {
    const plain = async (_: Date) => undefined;
    const wf = workflow(async (_: Date) => undefined, { name: "schedule.refused" });
    expect(() => Stepwise.schedule(plain, { cron: "* * * * *" })).toThrow(/needs a workflow/);
    expect(() => Stepwise.schedule(wf, { cron: "every minute" })).toThrow(ConfigError);
    expect(() => Stepwise.schedule(wf, { cron: "* * * * *", timezone: "Mars/Olympus" })).toThrow(/schedule\('schedule.refused'\).*Mars\/Olympus/);
    expect(() => Stepwise.schedule(wf, { cron: "* * * * *", timeoutMS: 0 })).toThrow(/timeoutMS must be/);
    expect(() => Stepwise.schedule(everySecond, { cron: "* * * * *" })).toThrow(/already has a schedule/);
  });
});

const postgres = databases.find((d) => d.name === "postgres");
describe.runIf(postgres)("a schedule fired by several processes", () => {
  test("each tick runs once between them", async () => {
    const worker = fileURLToPath(new URL("./fixtures/schedule-worker.ts", import.meta.url));
    await withWorkerLog(postgres!, async ({ logFile, start }) => {
      const children = ["worker-a", "worker-b", "worker-c"].map((id) => start(worker, { RUN_MS: "4500", STEPWISE_EXECUTOR_ID: id }));
      await Promise.all(children.map((c) => new Promise((resolve) => c.once("exit", resolve))));
      for (const c of children) expect(c.exitCode).toBe(0);
      const lines = readLog(logFile);
      const byTick = new Map<string, string[]>();
      for (const line of lines) {
        const [executor, tick] = line.split(" ");
        byTick.set(tick!, [...(byTick.get(tick!) ?? []), executor!]);
      }
      expect(byTick.size).toBeGreaterThanOrEqual(2);
      for (const [tick, executors] of byTick) expect({ tick, executors: executors.length }).toEqual({ tick, executors: 1 });
    });
  }, 60_000);
});
