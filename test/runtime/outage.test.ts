/**
 * The runtime survives a lost connection: statements retry until the database is back,
 * and in-flight workflows continue where they were; none is marked failed by an outage.
 */
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import pg from "pg";
import { Stepwise, step, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { openPostgres } from "../../runtime/sysdb/pg.js";

const postgres = databases.find((d) => d.name === "postgres");
const ran: number[] = [];
const slow = step(
  async (i: number) => {
    await new Promise((r) => setTimeout(r, 40));
    ran.push(i);
    return i;
  },
  { name: "outage.slow" },
);
const twenty = workflow(
  async () => {
    let total = 0;
    for (let i = 0; i < 20; i++) total += await slow(i);
    await Stepwise.setEvent("done", total);
    return total;
  },
  { name: "outage.twenty" },
);

describe.runIf(postgres)("database outages", () => {
  let db: Awaited<ReturnType<NonNullable<typeof postgres>["create"]>>;
  const warnings: string[] = [];
  const logger = { debug() {}, info: (m: string) => warnings.push(m), warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };

  beforeEach(async () => {
    db = await postgres!.create();
    ran.length = 0;
    warnings.length = 0;
  });
  afterEach(async () => {
    await Stepwise.shutdown();
    await db.cleanup();
  });

  test("a database down for seconds delays a workflow; it finishes with each step run once", async () => {
    const proxy = new TcpProxy("127.0.0.1", Number(new URL(db.databaseUrl!).port || 5432));
    await proxy.up();
    const url = proxy.urlFor(db.databaseUrl!);
    try {
      await Stepwise.launch({ databaseUrl: url, logger });
      const handle = await Stepwise.startWorkflow(twenty, { workflowID: "through-outage" })();
      while (ran.length < 5) await new Promise((r) => setTimeout(r, 5));
      await proxy.down();
      const downAt = Date.now();
      await new Promise((r) => setTimeout(r, 3000));
      await proxy.up();
      expect(await handle.getResult()).toBe(190);
      expect(Date.now() - downAt).toBeGreaterThanOrEqual(3000);
      expect((await handle.getStatus())!.status).toBe("SUCCESS");
      // Only the step in flight when the database went away may have run twice.
      const repeats = ran.length - new Set(ran).size;
      expect(repeats).toBeLessThanOrEqual(1);
      expect([...new Set(ran)].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(warnings.some((w) => w.includes("lost the connection") && w.includes(`127.0.0.1:${proxy.port}`))).toBe(true);
      expect(warnings.some((w) => w.includes("reconnected"))).toBe(true);
      expect(warnings.join("\n")).not.toMatch(/password/i);
    } finally {
      await proxy.down();
    }
  });

  test("the server terminating the runtime's connections (pg_terminate_backend) does not fail a run", async () => {
    await Stepwise.launch({ databaseUrl: db.databaseUrl, logger });
    const handle = await Stepwise.startWorkflow(twenty, { workflowID: "terminated" })();
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    await admin.connect();
    try {
      for (let kills = 0; kills < 3; kills++) {
        while (ran.length < 4 * (kills + 1)) await new Promise((r) => setTimeout(r, 5));
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
      }
      expect(await handle.getResult()).toBe(190);
      expect((await handle.getStatus())!.status).toBe("SUCCESS");
      expect(ran.length - new Set(ran).size).toBeLessThanOrEqual(3);
      expect(await Stepwise.getEvent("terminated", "done", 1)).toBe(190);
    } finally {
      await admin.end();
    }
  });

  test("an outage longer than reconnectSeconds parks the run PENDING, and it finishes once the database is back", async () => {
    const proxy = new TcpProxy("127.0.0.1", Number(new URL(db.databaseUrl!).port || 5432));
    await proxy.up();
    try {
      await Stepwise.launch({ databaseUrl: proxy.urlFor(db.databaseUrl!), logger, reconnectSeconds: 1 });
      const handle = await Stepwise.startWorkflow(twenty, { workflowID: "long-outage" })();
      while (ran.length < 3) await new Promise((r) => setTimeout(r, 5));
      await proxy.down();
      const error = await handle.getResult().catch((e) => e);
      expect(error.name).toBe("DatabaseConnectionError");
      expect(error.message).toContain("stays PENDING");
      await proxy.up();
      // The process resumes it by itself once the database answers.
      for (let i = 0; i < 200 && (await Stepwise.getWorkflowStatus("long-outage"))?.status !== "SUCCESS"; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await Stepwise.retrieveWorkflow("long-outage").getResult()).toBe(190);
      expect([...new Set(ran)]).toHaveLength(20);
    } finally {
      await proxy.down();
    }
  }, 60_000);

  test("a connection lost inside a transaction, between statements, does not crash the process; the transaction is run again", async () => {
    // The pool watches only idle connections: a checked-out one that ends while no statement
    // is running emits 'error', and with no listener that is an uncaught exception.
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    const driver = await openPostgres(db.databaseUrl!, { logger, maxConnections: 2 });
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    await admin.connect();
    try {
      let attempts = 0;
      const result = await driver.transaction(async (tx) => {
        attempts++;
        const { rows } = await tx.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
        if (attempts === 1) {
          await admin.query("SELECT pg_terminate_backend($1)", [rows[0]!.pid]);
          // Give the socket's end time to arrive while this transaction runs no statement.
          await new Promise((r) => setTimeout(r, 300));
        }
        const { rows: again } = await tx.query<{ n: number }>("SELECT 1 AS n");
        return again[0]!.n;
      });
      expect(result).toBe(1);
      expect(attempts).toBe(2);
      expect(uncaught).toEqual([]);
    } finally {
      process.off("uncaughtException", onUncaught);
      await admin.end();
      await driver.close();
    }
  });

  test("shutting down during an outage does not wait for the background work stuck on it", async () => {
    const proxy = new TcpProxy("127.0.0.1", Number(new URL(db.databaseUrl!).port || 5432));
    await proxy.up();
    try {
      // A heartbeat every 200 ms: one is soon retrying through the outage.
      await Stepwise.launch({ databaseUrl: proxy.urlFor(db.databaseUrl!), logger, executorTimeoutSeconds: 1 });
      await proxy.down();
      await new Promise((r) => setTimeout(r, 1000));
      const started = Date.now();
      await Stepwise.shutdown();
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await proxy.down();
    }
  }, 60_000);
});
