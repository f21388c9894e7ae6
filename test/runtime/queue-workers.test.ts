/**
 * Many executors on one Postgres: three worker processes share a queue with a global
 * concurrency of 4; one is SIGKILLed midway and its runs are taken over by the others.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { Stepwise } from "stepwise";
import { databases, tempDir } from "../helpers/databases.js";
import { job, workQueue } from "./fixtures/queue-jobs.js";

const worker = fileURLToPath(new URL("./fixtures/queue-worker.ts", import.meta.url));
const postgres = databases.find((d) => d.name === "postgres");
const JOBS = 200;

interface Entry {
  executor: string;
  workflowID: string;
  step: string;
  edge: "start" | "end";
  at: number;
}

function readEntries(file: string): Entry[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [executor, workflowID, step, edge, at] = l.split(" ");
      return { executor: executor!, workflowID: workflowID!, step: step!, edge: edge as Entry["edge"], at: Number(at) };
    });
}

// Several processes on one database need a server: the embedded database serves one process.
describe.runIf(postgres)("three workers on one Postgres queue", () => {
  test("all runs complete, the concurrency limit holds, a killed worker's runs finish elsewhere once", async () => {
    const db = await postgres!.create();
    const dir = tempDir("stepwise-queue-");
    const sideLog = path.join(dir, "side.log");
    process.env.SIDE_LOG = sideLog;
    const workers = new Map<string, ChildProcess>();
    try {
      await Stepwise.launch({ databaseUrl: db.databaseUrl, logLevel: "error", executorID: "enqueuer", listenQueues: [] });
      for (const id of ["worker-1", "worker-2", "worker-3"]) {
        const child = spawn(process.execPath, ["--import", "tsx", worker], {
          env: { ...process.env, STEPWISE_DATABASE_URL: db.databaseUrl, STEPWISE_EXECUTOR_ID: id, SIDE_LOG: sideLog },
          stdio: ["ignore", "pipe", "inherit"],
        });
        workers.set(id, child);
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on("data", (d) => String(d).includes("ready") && resolve());
          child.once("exit", (code) => reject(new Error(`${id} exited with ${code}`)));
        });
      }

      const handles = [];
      for (let i = 0; i < JOBS; i++) handles.push(await Stepwise.startWorkflow(job, { workflowID: `job-${i}`, queue: workQueue })(i));

      // Kill worker-2 in the middle of the work, while one of its steps is running.
      const inFlightOnVictim = (entries: Entry[]) => {
        const open = new Set<string>();
        for (const e of entries.filter((x) => x.executor === "worker-2" && x.step === "work")) {
          if (e.edge === "start") open.add(e.workflowID);
          else open.delete(e.workflowID);
        }
        return open.size > 0;
      };
      for (;;) {
        const entries = readEntries(sideLog);
        if (entries.filter((e) => e.step === "finish").length >= JOBS / 3 && inFlightOnVictim(entries)) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      const victim = workers.get("worker-2")!;
      victim.kill("SIGKILL");
      await new Promise((resolve) => victim.once("exit", resolve));
      const killedAt = Date.now();
      // The killed process's Postgres session (which holds its process lock) ends a moment
      // after the process does: until then its runs still have a live owner and are left alone.
      const recovered = [];
      for (const until = Date.now() + 10_000; recovered.length === 0 && Date.now() < until; ) {
        recovered.push(...(await Stepwise.recoverPendingWorkflows(["worker-2"])));
        if (recovered.length === 0) await new Promise((r) => setTimeout(r, 100));
      }

      const results = await Promise.all(handles.map((h) => h.getResult()));
      expect(results).toEqual(Array.from({ length: JOBS }, (_, i) => i * 2));

      const entries = readEntries(sideLog);
      // Concurrency: intervals of the work step (a killed one ends at the kill).
      const intervals = new Map<string, { start: number; end: number }>();
      const open = new Map<string, number>();
      for (const e of entries.filter((x) => x.step === "work")) {
        const key = `${e.executor}/${e.workflowID}`;
        if (e.edge === "start") open.set(key, e.at);
        else {
          intervals.set(`${key}/${e.at}`, { start: open.get(key)!, end: e.at });
          open.delete(key);
        }
      }
      for (const [key, start] of open) intervals.set(`${key}/killed`, { start, end: killedAt });
      const edges = [...intervals.values()].flatMap((i) => [[i.start, 1] as const, [i.end, -1] as const]);
      edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let running = 0;
      let peak = 0;
      for (const [, d] of edges) peak = Math.max(peak, (running += d));
      expect(peak).toBeLessThanOrEqual(4);
      expect(peak).toBeGreaterThanOrEqual(2);

      // Each completed step ran once; only what worker-2 had in flight may have run twice.
      for (let i = 0; i < JOBS; i++) {
        const mine = entries.filter((e) => e.workflowID === `job-${i}` && e.edge === "end");
        expect(mine.filter((e) => e.step === "finish"), `job-${i}`).toHaveLength(1);
        const works = mine.filter((e) => e.step === "work");
        if (works.length > 1) expect(works[0]!.executor, `job-${i}`).toBe("worker-2");
        expect(works.length, `job-${i}`).toBeLessThanOrEqual(2);
      }
      // The others finished what worker-2 left.
      const finishedBy = new Set(entries.filter((e) => e.step === "finish").map((e) => e.executor));
      expect(finishedBy).toEqual(new Set(["worker-1", "worker-2", "worker-3"]));
      const statuses = await Stepwise.listWorkflows({ name: "job", limit: 1000 });
      expect(statuses.filter((s) => s.status === "SUCCESS")).toHaveLength(JOBS);
      expect(recovered.length).toBeGreaterThanOrEqual(1);
      for (const h of recovered) expect(["worker-1", "worker-3"]).toContain((await h.getStatus())!.executorID);
      console.log(`queue test: peak concurrency ${peak}, ${recovered.length} run(s) taken over from worker-2`);
    } finally {
      for (const child of workers.values()) child.kill("SIGKILL");
      await Stepwise.shutdown();
      await db.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
