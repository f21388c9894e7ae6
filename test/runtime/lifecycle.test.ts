/**
 * Lifecycle: a shutdown or a launch never fails a run, and at most one live process
 * executes a run, with the default configuration (every process executor "local").
 */
import { fileURLToPath } from "node:url";
import path from "node:path";
import pg from "pg";
import { describe, expect, test } from "vitest";
import { ConfigError, ShutdownError, Stepwise, type WorkflowHandle } from "stepwise";
import { databases, tempDir } from "../helpers/databases.js";
import { killWorker, readLog, untilLogged, withWorkerLog } from "../helpers/crash-worker.js";
import { longStep, ran, tenSteps } from "./fixtures/lifecycle-workflows.js";

const worker = fileURLToPath(new URL("./fixtures/lifecycle-worker.ts", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (child: import("node:child_process").ChildProcess) =>
  new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once("exit", resolve)));

const until = async (ok: () => boolean, ms = 20_000) => {
  for (const end = Date.now() + ms; !ok(); await sleep(20)) if (Date.now() > end) throw new Error("never happened");
};

/** Settles within `ms`, or says it hung. */
const settled = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise.then((value) => ({ value }), (error: unknown) => ({ error })),
    sleep(ms).then(() => ({ hung: true as const })),
  ]);

describe.each(databases)("shutdown and launch never fail a run, on $name", (database) => {
  test("a run recovered at launch, waiting in recv when its process shuts down, is never ERROR and finishes", async () => {
    await withWorkerLog(database, async ({ logFile, start, db }) => {
      const runs = 20;
      const first = start(worker, { LIFECYCLE_MODE: "wait", LIFECYCLE_RUNS: String(runs) });
      await untilLogged(logFile, first, (lines) => lines.includes("started") && lines.filter((l) => l.startsWith("waiting ")).length === runs);
      await sleep(300); // into the recv
      await killWorker(first);
      // Launches (recovering every waiter), sends both messages to each, shuts down at once.
      const second = start(worker, { LIFECYCLE_MODE: "send", LIFECYCLE_RUNS: String(runs) });
      await untilLogged(logFile, second, (lines) => lines.includes("sent"));
      await exited(second);
      expect(second.exitCode).toBe(0);

      const ids = Array.from({ length: runs }, (_, i) => `waiter-${i}`);
      await Stepwise.launch({ ...db, logLevel: "silent", executorID: "inspector" });
      process.env.CRASH_LOG = logFile; // the steps run here log there too
      try {
        for (const id of ids) {
          const status = await Stepwise.getWorkflowStatus(id);
          expect(status?.status, `${id}: ${status?.recoveryError ?? ""}`).toMatch(/^(PENDING|SUCCESS)$/);
        }
        // Take them over from executor "local" (its processes are gone) and finish them here.
        await Stepwise.recoverPendingWorkflows(["local"]);
        for (const id of ids) expect(await Stepwise.retrieveWorkflow(id).getResult(), id).toEqual(["a", "b"]);
        const lines = readLog(logFile);
        for (const id of ids) expect(lines.filter((l) => l === `received ${id}`), id).toHaveLength(1);
      } finally {
        delete process.env.CRASH_LOG;
        await Stepwise.shutdown();
      }
    });
  }, 180_000);
});

describe.each(databases)("a shutdown while many runs take steps, on $name", (database) => {
  test("leaves no run ERROR; handles reject with ShutdownError or resolve, none hangs; a new launch finishes every run, no step twice", async () => {
    const db = await database.create();
    try {
      await Stepwise.launch({ ...db, logLevel: "silent" });
      const handles: WorkflowHandle<number>[] = [];
      for (let i = 0; i < 50; i++) handles.push(await Stepwise.startWorkflow(tenSteps, { workflowID: `ten-${database.name}-${i}` })());
      const results = handles.map((h) => settled(h.getResult(), 20_000));
      await sleep(150);
      await Stepwise.shutdown();
      const outcomes = await Promise.all(results);
      // What the shutdown left recorded: no run failed by it.
      await Stepwise.launch({ ...db, logLevel: "silent", recover: false });
      try {
        for (const handle of handles) {
          const status = (await Stepwise.getWorkflowStatus(handle.workflowID))!;
          expect(status.status, `${handle.workflowID}: ${status.recoveryError ?? ""}`).toMatch(/^(PENDING|SUCCESS)$/);
        }
      } finally {
        await Stepwise.shutdown();
      }
      for (const [i, outcome] of outcomes.entries()) {
        expect(outcome, `run ${i}`).not.toHaveProperty("hung");
        if ("error" in outcome) {
          expect(String(outcome.error), `run ${i}`).toMatch(/^ShutdownError: /);
          expect(outcome.error, `run ${i}`).toBeInstanceOf(ShutdownError);
        }
        else expect(outcome.value, `run ${i}`).toBe(45);
      }
      // A handle of the shut-down process says so, rather than failing on a closed pool.
      await expect(handles[0]!.getStatus()).rejects.toBeInstanceOf(ShutdownError);

      await Stepwise.launch({ ...db, logLevel: "silent" });
      try {
        for (const handle of handles) {
          const again = Stepwise.retrieveWorkflow<number>(handle.workflowID);
          expect(await again.getResult(), handle.workflowID).toBe(45);
          expect((await again.getStatus())!.status).toBe("SUCCESS");
        }
      } finally {
        await Stepwise.shutdown();
      }
      // Steps executing at the shutdown finished and recorded: none ran again.
      for (const handle of handles) {
        for (let s = 0; s < 10; s++) expect(ran.get(`${handle.workflowID}/${s}`), `${handle.workflowID} step ${s}`).toBe(1);
      }
    } finally {
      await Stepwise.shutdown();
      await db.cleanup();
    }
  }, 120_000);
});

describe("shutdownTimeoutMS", () => {
  test("must be a number of milliseconds, 0 or more", async () => {
    for (const shutdownTimeoutMS of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(Stepwise.launch({ dataDir: "memory://", shutdownTimeoutMS })).rejects.toBeInstanceOf(ConfigError);
    }
  });

  test("bounds the wait for a step still executing; its run stays PENDING, not ERROR", async () => {
    const db = await databases[0]!.create();
    try {
      await Stepwise.launch({ ...db, logLevel: "silent", shutdownTimeoutMS: 300 });
      const handle = await Stepwise.startWorkflow(longStep, { workflowID: "too-long" })(3000);
      const result = settled(handle.getResult(), 10_000);
      await sleep(200);
      const started = Date.now();
      await Stepwise.shutdown();
      expect(Date.now() - started).toBeLessThan(2500);
      expect(await result).toMatchObject({ error: expect.any(ShutdownError) });
      await sleep(3200); // the step ends after the close: recording it must not fail the run either
      await Stepwise.launch({ ...db, logLevel: "silent", recover: false });
      try {
        expect((await Stepwise.getWorkflowStatus("too-long"))!.status).toBe("PENDING");
      } finally {
        await Stepwise.shutdown();
      }
    } finally {
      await db.cleanup();
    }
  }, 60_000);
});

const postgres = databases.find((d) => d.name === "postgres");
describe.runIf(postgres)("two live processes with the default configuration, on postgres", () => {
  test("a second process started mid-step does not run the step (nor resumeWorkflow); once the first is killed the second finishes the run within seconds", async () => {
    await withWorkerLog(postgres!, async ({ logFile, start, db }) => {
      const first = start(worker, { LIFECYCLE_MODE: "long", LIFECYCLE_STEP_MS: "60000" });
      await untilLogged(logFile, first, (lines) => lines.some((l) => l.startsWith("begin ")));
      const second = start(worker, { LIFECYCLE_MODE: "join" });
      await untilLogged(logFile, second, (lines) => lines.filter((l) => l.startsWith("launched ")).length === 2);
      await sleep(5000); // its launch recovery and two passes looking for orphaned runs
      expect(readLog(logFile).filter((l) => l.startsWith("begin "))).toEqual([`begin ${first.pid}`]);
      // Nor does resumeWorkflow from a third process take a run a live process executes.
      await Stepwise.launch({ ...db, logLevel: "silent", executorID: "resumer" });
      process.env.CRASH_LOG = logFile;
      try {
        expect((await Stepwise.resumeWorkflow("long")).workflowID).toBe("long");
        await sleep(1000);
        expect(readLog(logFile).filter((l) => l.startsWith("begin "))).toEqual([`begin ${first.pid}`]);
      } finally {
        delete process.env.CRASH_LOG;
        await Stepwise.shutdown();
      }

      await killWorker(first);
      const killedAt = Date.now();
      await untilLogged(logFile, second, (lines) => lines.some((l) => l.startsWith("finished by ")));
      const lines = readLog(logFile);
      expect(lines.filter((l) => l.startsWith("begin "))).toEqual([`begin ${first.pid}`, `begin ${second.pid}`]);
      expect(lines.find((l) => l.startsWith("finished by "))).toBe(`finished by ${second.pid}`);
      expect(Date.now() - killedAt).toBeLessThan(10_000); // no heartbeat timeout (60 s by default) to wait for
      await exited(second);
    });
  }, 180_000);
});

describe.runIf(postgres)("a process that loses the connection holding its lock, on postgres", () => {
  test("stops its runs, holds a lock under a new token, and finishes them; handles keep waiting", async () => {
    const db = await postgres!.create();
    const logFile = path.join(tempDir("stepwise-lock-"), "log");
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    await admin.connect();
    try {
      await Stepwise.launch({ ...db, logLevel: "silent" });
      process.env.CRASH_LOG = logFile;
      const handle = await Stepwise.startWorkflow(longStep, { workflowID: "lock-lost" })(1500);
      await until(() => readLog(logFile).length > 0); // in the step
      const tokenOf = async () =>
        (await admin.query<{ token: string }>(`SELECT process_token AS token FROM stepwise.workflow_status WHERE workflow_id = 'lock-lost'`)).rows[0]!.token;
      const before = await tokenOf();
      // The session holding the advisory lock on the run's token is the process's lock connection.
      const { rowCount } = await admin.query(
        `SELECT pg_terminate_backend(l.pid)
         FROM pg_locks l JOIN pg_database d ON d.oid = l.database, (SELECT hashtextextended($1, 0) AS key) k
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() AND l.objsubid = 1
           AND l.classid::bigint = (k.key >> 32) & 4294967295 AND l.objid::bigint = k.key & 4294967295`,
        [before],
      );
      expect(rowCount).toBe(1);
      expect(await settled(handle.getResult(), 30_000)).toEqual({ value: "done" });
      expect(await tokenOf()).not.toBe(before);
      // The step executing at the loss finished and recorded; the run resumed after it, in this process.
      const lines = readLog(logFile);
      expect(lines.filter((l) => l.startsWith("begin "))).toEqual([`begin ${process.pid}`]);
      expect(lines.filter((l) => l.startsWith("after "))).toEqual([`after ${process.pid}`]);
    } finally {
      delete process.env.CRASH_LOG;
      await Stepwise.shutdown();
      await admin.end();
      await db.cleanup();
    }
  }, 60_000);
});
