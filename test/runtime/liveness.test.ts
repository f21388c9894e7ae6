/**
 * Executor liveness: a launched executor keeps a heartbeat; the PENDING runs of an
 * executor whose heartbeat stopped are taken over by a live one, and only those.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { ConfigError, Stepwise, step, workflow } from "stepwise";
import { requireExecutor } from "../../runtime/executor.js";
import { serialize } from "../../runtime/serialize.js";
import { databases } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";
import { killWorker, readLog, untilLogged, withWorkerLog } from "../helpers/crash-worker.js";
import { sql } from "../helpers/sql.js";

const ran: string[] = [];
const note = step(async (entry: string) => void ran.push(entry), { name: "liveness.note" });
const twoSteps = workflow(
  async (key: string) => {
    await note(`${key}:1`);
    await note(`${key}:2`);
    return key;
  },
  { name: "liveness.twoSteps" },
);

/** A PENDING run of twoSteps owned by `owner`, with its first step recorded. */
async function pendingRunOf(owner: string, key: string) {
  const now = Date.now();
  await sql(
    `INSERT INTO stepwise.workflow_status (workflow_id, name, status, inputs, executor_id, created_at, updated_at, started_at)
     VALUES ($1, 'liveness.twoSteps', 'PENDING', $2, $3, $4, $4, $4)`,
    [key, serialize([key]), owner, now],
  );
  await sql(
    `INSERT INTO stepwise.operation_outputs (workflow_id, function_id, step_id, output, started_at, completed_at)
     VALUES ($1, 0, 'liveness.note', $2, $3, $3)`,
    [key, serialize(undefined), now],
  );
}

/** A heartbeat of another process, as `executorID`. */
const heartbeatOf = (executorID: string, at: number) =>
  sql(
    `INSERT INTO stepwise.executors (executor_id, instance, started_at, heartbeat_at) VALUES ($1, 'another-process', $2, $2)
     ON CONFLICT (executor_id) DO UPDATE SET heartbeat_at = $2, instance = 'another-process'`,
    [executorID, at],
  );

const until = async (ok: () => Promise<boolean>, ms = 10_000) => {
  for (const end = Date.now() + ms; !(await ok()) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
};

describe.each(databases)("executor liveness on $name", (database) => {
  const { id } = launchedOn(database, { executorTimeoutSeconds: 2 });

  test("this executor registers and keeps its heartbeat", async () => {
    const me = requireExecutor().executorID;
    const read = async () => Number((await sql<{ at: number }>(`SELECT heartbeat_at AS at FROM stepwise.executors WHERE executor_id = $1`, [me]))[0]!.at);
    const first = await read();
    await until(async () => (await read()) > first);
    expect(await read()).toBeGreaterThan(first);
  });

  test("the pending runs of an executor silent past the timeout are taken over, and finish without repeating a step", async () => {
    const key = id("orphan");
    await heartbeatOf("ghost", Date.now() - 10_000);
    await pendingRunOf("ghost", key);
    await until(async () => (await Stepwise.getWorkflowStatus(key))?.status === "SUCCESS");
    const status = (await Stepwise.getWorkflowStatus(key))!;
    expect(status).toMatchObject({ status: "SUCCESS", executorID: requireExecutor().executorID, recoveryAttempts: 1 });
    expect(ran.filter((r) => r === `${key}:1`)).toHaveLength(0); // recorded by the ghost: replayed, not run
    expect(ran.filter((r) => r === `${key}:2`)).toHaveLength(1);
    // Its runs taken, the dead executor is forgotten.
    expect(await sql(`SELECT 1 FROM stepwise.executors WHERE executor_id = 'ghost'`)).toEqual([]);
  });

  test("a run of this executor ID that became PENDING after launch recovery looked, from before this process, is recovered", async () => {
    // What a killed process's last dequeue leaves when its COMMIT reaches the server after
    // the new process's launch recovery ran: PENDING, ours, last changed before our start.
    const key = id("left-behind");
    await pendingRunOf(requireExecutor().executorID, key);
    await sql(`UPDATE stepwise.workflow_status SET updated_at = $2 WHERE workflow_id = $1`, [key, Date.now() - 3_600_000]);
    await until(async () => (await Stepwise.getWorkflowStatus(key))?.status === "SUCCESS");
    expect((await Stepwise.getWorkflowStatus(key))!.status).toBe("SUCCESS");
    expect(ran.filter((r) => r === `${key}:1`)).toHaveLength(0);
    expect(ran.filter((r) => r === `${key}:2`)).toHaveLength(1);
  });

  test("a live executor's runs, and those of an executor that never registered, are left alone", async () => {
    const live = id("live");
    const unregistered = id("unregistered");
    await heartbeatOf("alive", Date.now());
    const keepAlive = setInterval(() => void heartbeatOf("alive", Date.now()).catch(() => {}), 200);
    try {
      await pendingRunOf("alive", live);
      await pendingRunOf("old-version", unregistered);
      // Past the timeout, and many takeover passes.
      await new Promise((r) => setTimeout(r, 3000));
      expect(await Stepwise.getWorkflowStatus(live)).toMatchObject({ status: "PENDING", executorID: "alive" });
      expect(await Stepwise.getWorkflowStatus(unregistered)).toMatchObject({ status: "PENDING", executorID: "old-version" });
      expect(ran.filter((r) => r.startsWith(live) || r.startsWith(unregistered))).toEqual([]);
    } finally {
      clearInterval(keepAlive);
      await sql(`UPDATE stepwise.workflow_status SET status = 'CANCELLED' WHERE workflow_id = ANY($1::text[])`, [[live, unregistered]]);
    }
  });
});

describe("executorTimeoutSeconds", () => {
  test("must be a number above 0", async () => {
    for (const executorTimeoutSeconds of [0, -1, Number.NaN]) {
      await expect(Stepwise.launch({ dataDir: "memory://", executorTimeoutSeconds })).rejects.toBeInstanceOf(ConfigError);
    }
  });
});

const postgres = databases.find((d) => d.name === "postgres");
describe.runIf(postgres)("a killed executor's run, on postgres", () => {
  test("is finished by another executor once the heartbeat stops, each step once", async () => {
    const worker = fileURLToPath(new URL("./fixtures/liveness-worker.ts", import.meta.url));
    await withWorkerLog(postgres!, async ({ logFile, start }) => {
      const alpha = start(worker, { STEPWISE_EXECUTOR_ID: "alpha" });
      await untilLogged(logFile, alpha, (lines) => lines.includes("one"));
      await new Promise((r) => setTimeout(r, 200)); // past the step's checkpoint, into the sleep
      await killWorker(alpha);
      const killedAt = Date.now();
      const beta = start(worker, { STEPWISE_EXECUTOR_ID: "beta" });
      await untilLogged(logFile, beta, (lines) => lines.some((l) => l.startsWith("finished ")));
      const lines = readLog(logFile);
      expect(lines.filter((l) => l === "one")).toHaveLength(1);
      expect(lines.filter((l) => l === "two")).toHaveLength(1);
      expect(lines.find((l) => l.startsWith("finished "))).toBe("finished handoff-1 by beta");
      // Not before alpha's heartbeat was 2 s old.
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1500);
      await new Promise((resolve) => (beta.exitCode === null ? beta.once("exit", resolve) : resolve(null)));
    });
  }, 60_000);
});
