/**
 * Damaged embedded data is named as such and never replaced by an empty database; a
 * dump restores it; `stepwise doctor` reads every table and reports damage.
 * Every damage is done to a copy in a temp folder.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DatabaseConnectionError, Stepwise, step, workflow } from "stepwise";
import { openPGlite } from "../../runtime/sysdb/pglite.js";
import { databases, tempDir } from "../helpers/databases.js";

const cli = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));
const root = tempDir("stepwise-damage-");
const original = path.join(root, "original");
const RUNS = 5;

function stepwise(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ["--import", "tsx", cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, STEPWISE_DATABASE_URL: "", ...env },
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

const pad = step(async (i: number) => `${"v".repeat(3000)}${i}`, { name: "damage.pad" });
const padded = workflow(async () => {
  for (let i = 0; i < 20; i++) await pad(i);
  return "done";
}, { name: "damage.padded" });

/** A copy of the healthy database folder, for one test to damage. */
function copy(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(original, dir, { recursive: true });
  return dir;
}

async function launchError(dataDir: string): Promise<Error> {
  const error = await Stepwise.launch({ dataDir, logLevel: "silent" }).then(
    () => new Error("launched"),
    (e: Error) => e,
  );
  await Stepwise.shutdown();
  return error;
}

describe("damaged embedded data", () => {
  beforeAll(async () => {
    await Stepwise.launch({ dataDir: original, logLevel: "silent" });
    for (let i = 0; i < RUNS; i++) await (await Stepwise.startWorkflow(padded, { workflowID: `kept-${i}` })()).getResult();
    await Stepwise.shutdown();
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test("a data folder without PG_VERSION is refused, not started over empty, and nothing is overwritten", async () => {
    const dir = copy("no-version");
    const version = fs.readFileSync(path.join(dir, "pgdata", "PG_VERSION"));
    fs.rmSync(path.join(dir, "pgdata", "PG_VERSION"));
    const before = fs.readdirSync(path.join(dir, "pgdata")).sort();
    const error = await launchError(dir);
    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error.message).toContain("incomplete");
    expect(error.message).toContain("PG_VERSION");
    expect(error.message).toContain("stepwise restore");
    expect(fs.readdirSync(path.join(dir, "pgdata")).sort()).toEqual(before);
    // Put back, every run is there.
    fs.writeFileSync(path.join(dir, "pgdata", "PG_VERSION"), version);
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
    expect(await Stepwise.listWorkflows({ name: "damage.padded" })).toHaveLength(RUNS);
    await Stepwise.shutdown();
  });

  test("a damaged pg_control or WAL is named as damage of the embedded database, with what to do", async () => {
    const control = copy("control");
    fs.writeFileSync(path.join(control, "pgdata", "global", "pg_control"), Buffer.alloc(8192, 7));
    const wal = copy("wal");
    const walDir = path.join(wal, "pgdata", "pg_wal");
    for (const f of fs.readdirSync(walDir).filter((f) => /^[0-9A-F]{24}$/.test(f))) fs.writeFileSync(path.join(walDir, f), Buffer.alloc(1024 * 1024, 9));
    for (const dir of [control, wal]) {
      const error = await launchError(dir);
      expect(error, dir).toBeInstanceOf(DatabaseConnectionError);
      expect(error.message, dir).toContain(`The embedded database in ${dir} is damaged`);
      expect(error.message, dir).toContain("Nothing was changed or overwritten");
      expect(error.message, dir).not.toContain("-sASSERTIONS");
    }
  });

  test("a truncated table file: reads fail naming the damage and the folder; doctor reports the table", async () => {
    const dir = copy("truncated");
    const driver = await openPGlite(dir);
    const file = (await driver.query<{ p: string }>(`SELECT pg_relation_filepath('stepwise.operation_outputs') AS p`)).rows[0]!.p;
    await driver.close();
    fs.truncateSync(path.join(dir, "pgdata", file), 8192);

    await Stepwise.launch({ dataDir: dir, logLevel: "silent", recover: false });
    try {
      const error = await Stepwise.listWorkflowSteps("kept-4").catch((e) => e);
      expect(error).toBeInstanceOf(DatabaseConnectionError);
      expect(error.message).toContain(`The embedded database in ${dir} is damaged: could not read block`);
    } finally {
      await Stepwise.shutdown();
    }

    const report = stepwise(["--data-dir", dir, "doctor"]);
    expect(report.code).toBe(1);
    expect(report.out).toMatch(/stepwise\.operation_outputs\s+DAMAGED: could not read block/);
    expect(report.out).toMatch(/stepwise\.workflow_status\s+5\s+ok/);
  }, 180_000);

  test("stepwise dump and restore bring every run back; a restore never overwrites a database", async () => {
    const source = copy("to-dump");
    const file = path.join(root, "backup.tar.gz");
    const dumped = stepwise(["--data-dir", source, "dump", file]);
    expect(dumped.err).toBe("");
    expect(dumped.code).toBe(0);
    const target = path.join(root, "restored");
    expect(stepwise(["--data-dir", target, "restore", file]).code).toBe(0);
    const refused = stepwise(["--data-dir", target, "restore", file]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("never overwrites");

    await Stepwise.launch({ dataDir: target, logLevel: "silent" });
    try {
      expect(await Stepwise.listWorkflows({ name: "damage.padded" })).toHaveLength(RUNS);
      expect(await Stepwise.retrieveWorkflow("kept-0").getResult()).toBe("done");
      expect(await Stepwise.listWorkflowSteps("kept-0")).toHaveLength(20);
    } finally {
      await Stepwise.shutdown();
    }
    const healthy = stepwise(["--data-dir", target, "doctor"]);
    expect(healthy.code).toBe(0);
    expect(healthy.out).toMatch(/tables read, 0 damaged/);
  }, 180_000);
});

const postgres = databases.find((d) => d.name === "postgres");
describe.runIf(postgres)("stepwise doctor on postgres", () => {
  test("reads every table of a healthy database and says so", async () => {
    const db = await postgres!.create();
    try {
      await Stepwise.launch({ ...db, logLevel: "silent" });
      await (await Stepwise.startWorkflow(padded, { workflowID: "pg-kept" })()).getResult();
      await Stepwise.shutdown();
      const report = stepwise(["doctor", "--json"], { STEPWISE_DATABASE_URL: db.databaseUrl! });
      expect(report.code).toBe(0);
      const parsed = JSON.parse(report.out);
      expect(parsed.damaged).toBe(0);
      expect(parsed.tables.find((t: { table: string }) => t.table === "stepwise.operation_outputs").rows).toBe(20);
    } finally {
      await db.cleanup();
    }
  });
});
