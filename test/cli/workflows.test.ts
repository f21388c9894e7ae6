/**
 * The management CLI against a real database: list, show, steps, cancel, resume, fork
 * and recover, in tables and JSON. Runs handed off by the CLI are picked up by an
 * executor that has the workflow (this test process, launched again).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Queue, Stepwise, step, workflow } from "stepwise";
import { tempDir } from "../helpers/databases.js";

const cli = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));
const dir = tempDir("stepwise-cli-");

function stepwise(...args: string[]) {
  const result = spawnSync(process.execPath, ["--import", "tsx", cli, "--data-dir", dir, ...args], {
    encoding: "utf8",
    env: { ...process.env, STEPWISE_DATABASE_URL: "" },
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

const runs: string[] = [];
const record = step(async (label: string) => void runs.push(label), { name: "record" });
const report = workflow(
  async (label: string) => {
    await record(`${label}:a`);
    await record(`${label}:b`);
    return `report ${label}`;
  },
  { name: "report" },
);
// Nobody listens to this queue while the CLI works, so runs wait in it.
const parked = new Queue("parked");

describe("stepwise workflows", () => {
  beforeAll(async () => {
    await Stepwise.launch({ dataDir: dir, logLevel: "silent", listenQueues: [] });
    await (await Stepwise.startWorkflow(report, { workflowID: "report-1" })("one")).getResult();
    await Stepwise.startWorkflow(report, { workflowID: "waiting-1", queue: parked })("waiting");
    await Stepwise.shutdown();
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("list prints a table, and JSON with --json", () => {
    const table = stepwise("workflows", "list");
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/ID\s+NAME\s+STATUS\s+CREATED/);
    expect(table.out).toMatch(/report-1\s+report\s+SUCCESS/);
    expect(table.out).toMatch(/waiting-1\s+report\s+ENQUEUED/);
    const parsed = JSON.parse(stepwise("workflows", "list", "--status", "SUCCESS", "--json").out);
    expect(parsed.map((w: { workflowID: string }) => w.workflowID)).toEqual(["report-1"]);
  });

  test("--status is case-insensitive", () => {
    const parsed = JSON.parse(stepwise("workflows", "list", "--status", "success", "--json").out);
    expect(parsed.map((w: { workflowID: string }) => w.workflowID)).toEqual(["report-1"]);
  });

  test("a folder with no embedded database is refused, and nothing is created in it", () => {
    const empty = tempDir("stepwise-cli-empty-");
    try {
      const result = spawnSync(process.execPath, ["--import", "tsx", cli, "--data-dir", empty, "workflows", "list"], {
        encoding: "utf8",
        env: { ...process.env, STEPWISE_DATABASE_URL: "" },
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/no embedded database in .*nothing was created.*--data-dir/s);
      expect(fs.readdirSync(empty)).toEqual([]);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  test("--version prints the package's version", () => {
    const { version } = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    const result = stepwise("--version");
    expect(result.code).toBe(0);
    expect(result.out.trim()).toBe(version);
  });

  test("show and steps print what a run recorded", () => {
    expect(stepwise("workflows", "show", "report-1").out).toMatch(/result\s+"report one"/);
    const steps = stepwise("workflows", "steps", "report-1");
    expect(steps.out).toMatch(/0\s+record/);
    expect(steps.out).toMatch(/1\s+record/);
    expect(JSON.parse(stepwise("workflows", "steps", "report-1", "--json").out)).toHaveLength(2);
  });

  test("bad input is an error with a message and exit code 1", () => {
    const missing = stepwise("workflows", "show", "no-such-run");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("no workflow has the ID 'no-such-run'");
    const badStatus = stepwise("workflows", "list", "--status", "DONE");
    expect(badStatus.code).toBe(1);
    expect(badStatus.err).toContain("unknown status 'DONE'");
  });

  test("cancel, then resume and fork hand the runs to an executor that has the workflow", async () => {
    expect(stepwise("workflows", "cancel", "waiting-1").out).toContain("cancelled waiting-1");
    expect(stepwise("workflows", "list", "--status", "CANCELLED").out).toContain("waiting-1");
    expect(stepwise("workflows", "resume", "waiting-1").code).toBe(0);
    const fork = stepwise("workflows", "fork", "report-1", "--from", "1", "--id", "report-1-again");
    expect(fork.out).toContain("as report-1-again");

    // An executor with the workflow (this process) picks both up from the internal queue.
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
    expect(await Stepwise.retrieveWorkflow("waiting-1").getResult()).toBe("report waiting");
    expect(await Stepwise.retrieveWorkflow("report-1-again").getResult()).toBe("report one");
    // The fork kept function ID 0 and ran only function ID 1 again.
    expect(runs.filter((r) => r === "one:a")).toHaveLength(1);
    expect(runs.filter((r) => r === "one:b")).toHaveLength(2);
    await Stepwise.shutdown();
  });

  test("recover hands a gone executor's pending runs to the running ones", async () => {
    await Stepwise.launch({ dataDir: dir, logLevel: "silent", executorID: "gone-executor", listenQueues: [] });
    // Recorded as PENDING on an executor that will not come back.
    const handle = await Stepwise.startWorkflow(report, { workflowID: "orphan-1" })("orphan");
    await handle.getResult();
    await Stepwise.shutdown();
    const { SystemDatabase } = await import("../../runtime/sysdb/system-database.js");
    const { openPGlite } = await import("../../runtime/sysdb/pglite.js");
    const db = new SystemDatabase(await openPGlite(dir));
    await db.driver.query(`UPDATE stepwise.workflow_status SET status = 'PENDING' WHERE workflow_id = 'orphan-1'`);
    await db.driver.query(`DELETE FROM stepwise.operation_outputs WHERE workflow_id = 'orphan-1' AND function_id = 1`);
    await db.close();

    const out = stepwise("recover", "gone-executor");
    expect(out.out).toContain("1 pending run(s) of gone-executor queued");
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
    expect(await Stepwise.retrieveWorkflow("orphan-1").getResult()).toBe("report orphan");
    expect((await Stepwise.getWorkflowStatus("orphan-1"))!.executorID).toBe("local");
    expect(runs.filter((r) => r === "orphan:a")).toHaveLength(1);
    expect(runs.filter((r) => r === "orphan:b")).toHaveLength(2);
  });

  test("start enqueues a run by name, and an executor that has the workflow runs it", async () => {
    await Stepwise.shutdown();
    const started = stepwise("workflows", "start", "report", "--args", '["by-cli"]', "--id", "started-1");
    expect(started.out).toContain("enqueued report as started-1");
    const bad = stepwise("workflows", "start", "report", "--args", "{}");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("--args must be a JSON array");
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
    expect(await Stepwise.retrieveWorkflow("started-1").getResult()).toBe("report by-cli");
    await Stepwise.shutdown();
  });

  test("delete and gc remove ended runs; a bad age is an error", async () => {
    await Stepwise.shutdown();
    await Stepwise.launch({ dataDir: dir, logLevel: "silent", listenQueues: [] });
    for (const key of ["gc-1", "gc-2", "gc-3"]) await (await Stepwise.startWorkflow(report, { workflowID: key })(key)).getResult();
    await Stepwise.startWorkflow(report, { workflowID: "gc-waiting", queue: parked })("gc-waiting");
    await Stepwise.shutdown();

    expect(stepwise("workflows", "delete", "gc-1").out).toContain("deleted gc-1");
    expect(stepwise("workflows", "delete", "gc-1").err).toContain("no workflow has the ID 'gc-1'");
    const refused = stepwise("workflows", "delete", "gc-waiting");
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/has not ended \(ENQUEUED\)/);
    expect(stepwise("workflows", "gc").err).toContain("give --older-than, --keep or both");
    expect(stepwise("workflows", "gc", "--older-than", "soon").err).toContain("not a time: 'soon'");
    // Created within the last hour: an age of 1h deletes none of them; --keep 1 deletes every ended run but the newest.
    expect(stepwise("workflows", "gc", "--older-than", "1h").out).toContain("deleted 0 ended run(s)");
    expect(stepwise("workflows", "gc", "--keep", "1").code).toBe(0);
    const left = JSON.parse(stepwise("workflows", "list", "--json", "--limit", "100").out).map((w: { workflowID: string }) => w.workflowID);
    expect(left).toEqual(["gc-waiting"]);
  });
});
