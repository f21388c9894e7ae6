/**
 * Bad input gets a clear error and loses nothing: hostile IDs and keys, a hand-edited
 * checkpoint, a result over the size limit, a role with rights on schema stepwise only,
 * and a poison-pill workflow that crashes its process every time.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stepwise, step, workflow } from "stepwise";
import { databases, serverUrl, tempDir } from "../helpers/databases.js";
import { sql } from "../helpers/sql.js";

const HOSTILE = [
  `it's "quoted"; DROP TABLE stepwise.workflow_status; --`,
  "ünïcødé 🚀 \\ \n\t tabs and newlines",
  // Near the documented maximum (MAX_IDENTIFIER_BYTES), with the suffix the test adds.
  "x".repeat(1000),
];

const chatty = workflow(
  async (topic: string, key: string) => {
    const message = await Stepwise.recv<string>(topic, 10);
    await Stepwise.setEvent(key, message);
    return message;
  },
  { name: "badinput.chatty" },
);

let threeRuns = 0;
const counted = step(async (i: number) => (threeRuns++, i), { name: "badinput.counted" });
const three = workflow(async () => (await counted(1)) + (await counted(2)) + (await counted(3)), { name: "badinput.three" });

const huge = workflow(
  async () => {
    await counted(0);
    try {
      await step(async () => "x".repeat(100_000), { name: "badinput.huge" })();
      return "no error";
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    }
  },
  { name: "badinput.hugeFlow" },
);

describe.each(databases)("bad input on $name", (database) => {
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const created = await database.create();
    cleanup = created.cleanup;
    await Stepwise.launch({ ...created, logLevel: "silent", maxOutputBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    await cleanup();
  });

  test.each(HOSTILE.map((h, i) => [i, h]))("hostile workflow ID, topic and event key #%i are just data", async (i, hostile) => {
    const id = `${hostile}-${database.name}-${i}`;
    const handle = await Stepwise.startWorkflow(chatty, { workflowID: id })(hostile, hostile);
    await Stepwise.send(id, `message for ${hostile}`, hostile);
    expect(await handle.getResult()).toBe(`message for ${hostile}`);
    expect(await Stepwise.getEvent(id, hostile, 1)).toBe(`message for ${hostile}`);
    expect((await Stepwise.getWorkflowStatus(id))!.workflowID).toBe(id);
    expect((await Stepwise.listWorkflowSteps(id)).map((s) => s.stepID)).toContain("Stepwise.recv");
    expect(await sql(`SELECT count(*)::int AS n FROM stepwise.workflow_status`)).not.toEqual([{ n: 0 }]);
  });

  test("a checkpoint edited into invalid data: a clear error naming the run and function ID; it stays PENDING, nothing is deleted", async () => {
    const id = `corrupt-${database.name}`;
    expect(await (await Stepwise.startWorkflow(three, { workflowID: id })()).getResult()).toBe(6);
    await sql(`UPDATE stepwise.operation_outputs SET output = '{"json": oops' WHERE workflow_id = $1 AND function_id = 1`, [id]);
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    const before = threeRuns;
    await Stepwise.recoverPendingWorkflows();
    const error = await Stepwise.retrieveWorkflow(id).getResult().catch((e) => e);
    expect(error.name).toBe("DeserializationError");
    expect(error.message).toContain(`workflow '${id}', function ID 1 (badinput.counted)`);
    const status = await Stepwise.getWorkflowStatus(id);
    expect(status!.status).toBe("PENDING");
    expect(status!.recoveryError).toContain("function ID 1");
    expect(await sql(`SELECT function_id FROM stepwise.operation_outputs WHERE workflow_id = $1 ORDER BY function_id`, [id])).toEqual([
      { function_id: 0 },
      { function_id: 1 },
      { function_id: 2 },
    ]);
    expect(threeRuns).toBe(before);

    // Fixed by hand, the run resumes and finishes from its records.
    await sql(`UPDATE stepwise.operation_outputs SET output = '{"json":2}' WHERE workflow_id = $1 AND function_id = 1`, [id]);
    await Stepwise.resumeWorkflow(id);
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toBe(6);
    expect(threeRuns).toBe(before);
  });

  test("a step result over maxOutputBytes fails that step with a SerializationError naming it", async () => {
    const id = `huge-${database.name}`;
    const message = await (await Stepwise.startWorkflow(huge, { workflowID: id })()).getResult();
    // The checkpoint before it is intact, and the refusal is recorded as that step's outcome.
    const steps = await Stepwise.listWorkflowSteps(id);
    expect(steps.map((s) => [s.stepID, s.output, s.error?.name])).toEqual([
      ["badinput.counted", 0, undefined],
      ["badinput.huge", undefined, "SerializationError"],
    ]);
    expect(message).toMatch(/^SerializationError: The result of step 'badinput.huge' is \d+ bytes when stored, more than the limit of 65536/);
  });
});

describe.runIf(serverUrl)("a role with rights only on schema stepwise", () => {
  test("everything works: the runtime needs no superuser and no other rights", async () => {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    const database = `stepwise_limited_${process.pid}`;
    const role = `stepwise_limited_${process.pid}`;
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(serverUrl!);
    url.pathname = `/${database}`;
    const owner = new pg.Client({ connectionString: url.toString() });
    await owner.connect();
    await owner.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
    await owner.query(`GRANT CONNECT ON DATABASE ${database} TO ${role}`);
    await owner.query(`REVOKE ALL ON SCHEMA public FROM PUBLIC`);
    await owner.query(`CREATE SCHEMA stepwise AUTHORIZATION ${role}`);
    await owner.end();
    url.username = role;
    try {
      await Stepwise.launch({ databaseUrl: url.toString(), logLevel: "silent" });
      const id = "limited-1";
      const handle = await Stepwise.startWorkflow(chatty, { workflowID: id })("t", "k");
      await Stepwise.send(id, "hello", "t");
      expect(await handle.getResult()).toBe("hello");
      expect(await (await Stepwise.startWorkflow(three)()).getResult()).toBe(6);
      await Stepwise.shutdown();

      // Without the schema and without the right to create it: a clear error saying what to do.
      const bare = `stepwise_bare_${process.pid}`;
      await admin.query(`CREATE DATABASE ${bare}`);
      const bareUrl = new URL(url.toString());
      bareUrl.pathname = `/${bare}`;
      const bareOwner = new pg.Client({ connectionString: new URL(serverUrl!).toString().replace(/\/[^/]*$/, `/${bare}`) });
      await bareOwner.connect();
      await bareOwner.query(`REVOKE ALL ON DATABASE ${bare} FROM PUBLIC`);
      await bareOwner.query(`GRANT CONNECT ON DATABASE ${bare} TO ${role}`);
      await bareOwner.end();
      const error = await Stepwise.launch({ databaseUrl: bareUrl.toString(), logLevel: "silent" }).catch((e) => e);
      expect(error.message).toContain("may not create schema 'stepwise'");
      expect(error.message).toContain("CREATE SCHEMA stepwise AUTHORIZATION");
      await admin.query(`DROP DATABASE ${bare} WITH (FORCE)`);
    } finally {
      await Stepwise.shutdown();
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});

describe("a poison-pill workflow", () => {
  test("is parked after maxRecoveryAttempts instead of crash-looping, and can be resumed once fixed", () => {
    const dir = tempDir("stepwise-poison-");
    const worker = fileURLToPath(new URL("./fixtures/poison-worker.ts", import.meta.url));
    const cli = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));
    const env = { ...process.env, STEPWISE_DATA_DIR: dir, STEPWISE_DATABASE_URL: "" };
    const run = (extra: Record<string, string> = {}) =>
      spawnSync(process.execPath, ["--import", "tsx", worker], { env: { ...env, ...extra }, encoding: "utf8" });
    try {
      // The first run and two recoveries crash the process.
      for (let i = 0; i < 3; i++) expect(run().signal).toBe("SIGKILL");
      // The third recovery would exceed maxRecoveryAttempts: parked, the process lives.
      const parked = run();
      expect(parked.status).toBe(0);
      expect(parked.stdout).toContain("status MAX_RECOVERY_ATTEMPTS_EXCEEDED");
      const show = spawnSync(process.execPath, ["--import", "tsx", cli, "--data-dir", dir, "workflows", "list"], { env, encoding: "utf8" });
      expect(show.stdout).toMatch(/poison-1\s+poison\s+MAX_RECOVERY_ATTEMPTS_EXCEEDED/);

      const resume = spawnSync(process.execPath, ["--import", "tsx", cli, "--data-dir", dir, "workflows", "resume", "poison-1"], { env, encoding: "utf8" });
      expect(resume.status, resume.stderr).toBe(0);
      const fixed = run({ POISON_FIXED: "1" });
      expect(fixed.stdout).toContain("status SUCCESS");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
