/**
 * The system database itself: persistence of the embedded database, schema versions,
 * one process per embedded database, and unreachable servers.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { DatabaseConnectionError, SchemaVersionError, Stepwise, step, workflow } from "stepwise";
import { SCHEMA_VERSION } from "../../runtime/sysdb/migrations.js";
import { openPGlite } from "../../runtime/sysdb/pglite.js";
import { openPostgres } from "../../runtime/sysdb/pg.js";
import { databases, tempDir } from "../helpers/databases.js";
import { sql } from "../helpers/sql.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const double = step(async (n: number) => n * 2, { name: "double" });
const doubled = workflow(async (n: number) => double(n), { name: "doubled" });

describe.each(databases)("system database on $name", (database) => {
  test("runs and their results survive a restart", async () => {
    const db = await database.create();
    try {
      await Stepwise.launch({ ...db, logLevel: "silent" });
      await (await Stepwise.startWorkflow(doubled, { workflowID: "persisted" })(21)).getResult();
      await Stepwise.shutdown();

      await Stepwise.launch({ ...db, logLevel: "silent" });
      expect(await Stepwise.retrieveWorkflow("persisted").getResult()).toBe(42);
      expect((await Stepwise.listWorkflowSteps("persisted")).map((s) => s.output)).toEqual([42]);
      expect(await sql(`SELECT version FROM stepwise.schema_migrations ORDER BY version`)).toEqual(
        Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })),
      );
    } finally {
      await Stepwise.shutdown();
      await db.cleanup();
    }
  });

  test("a schema newer than the code is refused, and nothing is changed", async () => {
    const db = await database.create();
    try {
      await Stepwise.launch({ ...db, logLevel: "silent" });
      await (await Stepwise.startWorkflow(doubled, { workflowID: "before-upgrade" })(1)).getResult();
      await sql(`INSERT INTO stepwise.schema_migrations (version, applied_at) VALUES ($1, 0)`, [SCHEMA_VERSION + 1]);
      await Stepwise.shutdown();

      const error = await Stepwise.launch({ ...db, logLevel: "silent" }).catch((e) => e);
      expect(error).toBeInstanceOf(SchemaVersionError);
      expect(error.message).toContain(`version ${SCHEMA_VERSION + 1}`);
      expect(error.message).toContain("Upgrade the stepwise package");

      // Nothing was touched: remove the future version by hand and the recorded run is all there.
      const driver = db.databaseUrl ? await openPostgres(db.databaseUrl) : await openPGlite(db.dataDir!);
      await driver.query(`DELETE FROM stepwise.schema_migrations WHERE version > $1`, [SCHEMA_VERSION]);
      await driver.close();
      await Stepwise.launch({ ...db, logLevel: "silent" });
      expect(await Stepwise.retrieveWorkflow("before-upgrade").getResult()).toBe(2);
      expect((await Stepwise.listWorkflowSteps("before-upgrade")).length).toBe(1);
    } finally {
      await Stepwise.shutdown();
      await db.cleanup();
    }
  });
});

describe("the embedded database serves one process", () => {
  test("a second process gets a clear error while the first holds it", async () => {
    const dir = tempDir();
    const holder = spawn(process.execPath, ["--import", "tsx", fixture("hold-database.ts")], {
      env: { ...process.env, STEPWISE_DATA_DIR: dir, STEPWISE_DATABASE_URL: "" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on("data", (d) => String(d).includes("ready") && resolve());
        holder.once("exit", (code) => reject(new Error(`holder exited with ${code}`)));
      });
      const error = await Stepwise.launch({ dataDir: dir, logLevel: "silent" }).catch((e) => e);
      expect(error).toBeInstanceOf(DatabaseConnectionError);
      expect(error.message).toContain(`in use by process ${holder.pid}`);
      expect(error.message).toContain("STEPWISE_DATABASE_URL");

      // Once the holder is gone (even killed), the database opens again.
      holder.kill("SIGKILL");
      await new Promise((resolve) => holder.once("exit", resolve));
      await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
      expect(await doubled(4)).toBe(8);
    } finally {
      holder.kill("SIGKILL");
      await Stepwise.shutdown();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("an unreachable database", () => {
  const url = "postgres://app:s3cret-pw@127.0.0.1:1/orders";

  test("launch names host and port, never the password", async () => {
    const error = await Stepwise.launch({ databaseUrl: url, logLevel: "silent" }).catch((e) => e);
    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error.message).toContain("127.0.0.1:1");
    expect(error.message).toContain("ECONNREFUSED");
    expect(error.message).not.toContain("s3cret-pw");
  });

  test("an application launching against it exits non-zero with that message", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", fixture("launch-only.ts")], {
      env: { ...process.env, STEPWISE_DATABASE_URL: url },
      encoding: "utf8",
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("127.0.0.1:1");
    expect(result.stderr).not.toContain("s3cret-pw");
  });
});
