/**
 * Transactions: isolation levels, read-only, serialization-failure retry, the runtime
 * guards, and an application database separate from the system database.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import pg from "pg";
import { Stepwise, StepwiseError, step, transaction, workflow } from "stepwise";
import { requireExecutor } from "../../runtime/executor.js";
import { databases, serverUrl } from "../helpers/databases.js";
import { sql } from "../helpers/sql.js";
import { launchedOn } from "../helpers/launched.js";

const postgres = databases.find((d) => d.name === "postgres");

const isolationOf = (level: "read committed" | "repeatable read" | "serializable") =>
  transaction(
    async () => {
      const { rows } = await Stepwise.sql.query<{ level: string; ro: string }>(
        `SELECT current_setting('transaction_isolation') AS level, current_setting('transaction_read_only') AS ro`,
      );
      return rows[0]!;
    },
    { name: `isolation.${level}`, isolationLevel: level },
  );
const readCommitted = isolationOf("read committed");
const repeatableRead = isolationOf("repeatable read");
const serializable = isolationOf("serializable");
const defaultIsolation = transaction(
  async () => (await Stepwise.sql.query<{ level: string }>(`SELECT current_setting('transaction_isolation') AS level`)).rows[0]!.level,
  { name: "isolation.default" },
);

let readOnlyRuns = 0;
const readBalance = transaction(
  async (id: string) => {
    readOnlyRuns++;
    const { rows } = await Stepwise.sql.query<{ cents: number; ro: string }>(
      `SELECT cents, current_setting('transaction_read_only') AS ro FROM accounts WHERE id = $1`,
      [id],
    );
    return rows[0]!;
  },
  { name: "readBalance", readOnly: true },
);
const writeInReadOnly = transaction(
  async () => {
    await Stepwise.sql.query(`UPDATE accounts SET cents = 0`);
  },
  { name: "writeInReadOnly", readOnly: true },
);
const readOnlyFlow = workflow(
  async (id: string) => {
    const balance = await readBalance(id);
    const failure = await writeInReadOnly().then(
      () => "wrote",
      (error: Error) => error.message,
    );
    return { balance, failure };
  },
  { name: "readOnlyFlow" },
);

// Each attempt of `increment` waits until both concurrent runs have read the row, so
// the second writer always meets a concurrent update (SQLSTATE 40001) and is retried.
let bodyRuns = 0;
let bothRead: Promise<void> = Promise.resolve();
let oneRead = () => {};
const increment = transaction(
  async (id: string) => {
    bodyRuns++;
    const { rows } = await Stepwise.sql.query<{ n: number }>(`SELECT n FROM counters WHERE id = $1`, [id]);
    oneRead();
    await Promise.race([bothRead, new Promise((r) => setTimeout(r, 2000))]);
    await Stepwise.sql.query(`UPDATE counters SET n = $2 WHERE id = $1`, [id, rows[0]!.n + 1]);
    return rows[0]!.n + 1;
  },
  { name: "increment", isolationLevel: "serializable" },
);
const incrementFlow = workflow(async (id: string) => increment(id), { name: "incrementFlow" });

const callsStep = transaction(async () => step(async () => 1, { name: "inner.step" })(), { name: "callsStep" });
const callsSend = transaction(async () => Stepwise.send("nobody", "hi"), { name: "callsSend" });
const callsSleep = transaction(async () => Stepwise.sleep(1), { name: "callsSleep" });
const guardsFlow = workflow(
  async () => {
    const outcomes: string[] = [];
    for (const tx of [callsStep, callsSend, callsSleep]) {
      outcomes.push(await tx().then(() => "ran", (error: Error) => `${error.name}: ${error.message}`));
    }
    return outcomes;
  },
  { name: "guardsFlow" },
);

describe.each(databases)("transactions on $name", (database) => {
  launchedOn(database);
  beforeAll(async () => {
    await sql(`CREATE TABLE accounts (id text PRIMARY KEY, cents integer NOT NULL)`);
    await sql(`INSERT INTO accounts VALUES ('bank', 1000)`);
  });

  test("the default application database is the system database", () => {
    expect(requireExecutor().appdb).toBeUndefined();
  });

  test("isolation levels are set on the transaction; read committed by default", async () => {
    expect(await defaultIsolation()).toBe("read committed");
    expect(await readCommitted()).toEqual({ level: "read committed", ro: "off" });
    expect(await repeatableRead()).toEqual({ level: "repeatable read", ro: "off" });
    expect(await serializable()).toEqual({ level: "serializable", ro: "off" });
  });

  test("a read-only transaction reads, is checkpointed and replayed; a write in one fails", async () => {
    readOnlyRuns = 0;
    const id = `read-only-${database.name}`;
    const result = await (await Stepwise.startWorkflow(readOnlyFlow, { workflowID: id })("bank")).getResult();
    expect(result.balance).toEqual({ cents: 1000, ro: "on" });
    expect(result.failure).toMatch(/read-only transaction/);
    expect(await sql(`SELECT cents FROM accounts WHERE id = 'bank'`)).toEqual([{ cents: 1000 }]);
    const steps = await Stepwise.listWorkflowSteps(id);
    expect(steps.map((s) => s.stepID)).toEqual(["readBalance", "writeInReadOnly"]);
    expect(steps[1]!.error?.message).toMatch(/read-only transaction/);

    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual(result);
    expect(readOnlyRuns).toBe(1);
  });

  test("a step, send or sleep inside a transaction is a StepwiseError naming the rule", async () => {
    const outcomes = await guardsFlow();
    expect(outcomes[0]).toMatch(/^StepwiseError: SW1001: step 'inner.step' was called inside transaction 'callsStep'/);
    expect(outcomes[1]).toMatch(/^StepwiseError: SW1002: Stepwise.send was called inside transaction 'callsSend'/);
    expect(outcomes[2]).toMatch(/^StepwiseError: SW1002: Stepwise.sleep was called inside transaction 'callsSleep'/);
    // Outside any workflow too.
    await expect(callsStep()).rejects.toThrow(StepwiseError);
  });
});

describe.skipIf(!postgres)("transactions on postgres only", () => {
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const created = await postgres!.create();
    cleanup = created.cleanup;
    await Stepwise.launch({ ...created, logLevel: "silent" });
    await sql(`CREATE TABLE counters (id text PRIMARY KEY, n integer NOT NULL)`);
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    await cleanup();
  });

  test("two concurrent serializable transactions on one row both commit, one after a retry", async () => {
    await sql(`INSERT INTO counters VALUES ('c', 0)`);
    bodyRuns = 0;
    let reads = 0;
    let release = () => {};
    bothRead = new Promise<void>((r) => (release = r));
    oneRead = () => {
      if (++reads === 2) release();
    };
    const results = await Promise.all([
      (await Stepwise.startWorkflow(incrementFlow, { workflowID: "serial-a" })("c")).getResult(),
      (await Stepwise.startWorkflow(incrementFlow, { workflowID: "serial-b" })("c")).getResult(),
    ]);
    expect(results.sort()).toEqual([1, 2]);
    expect(await sql(`SELECT n FROM counters WHERE id = 'c'`)).toEqual([{ n: 2 }]);
    expect(bodyRuns).toBe(3);
    const attempts = [
      (await Stepwise.listWorkflowSteps("serial-a"))[0]!.attempts,
      (await Stepwise.listWorkflowSteps("serial-b"))[0]!.attempts,
    ];
    expect(attempts.sort()).toEqual([1, 2]);
  });
});

let appRuns = 0;
const recordPayment = transaction(
  async (id: string, cents: number) => {
    appRuns++;
    await Stepwise.sql.query(`INSERT INTO payments (id, cents) VALUES ($1, $2)`, [id, cents]);
    if (cents < 0) throw new StepwiseError(`negative amount for ${id}`);
    const { rows } = await Stepwise.sql.query<{ db: string }>(`SELECT current_database() AS db`);
    return rows[0]!.db;
  },
  { name: "recordPayment" },
);
const paymentFlow = workflow(
  async (id: string, cents: number) => {
    const database = await recordPayment(id, cents);
    return { database, after: await step(async () => "after", { name: "afterPayment" })() };
  },
  { name: "paymentFlow" },
);

describe.skipIf(!postgres)("a separate application database on postgres", () => {
  let system: { databaseUrl?: string; cleanup(): Promise<void> };
  let app: { databaseUrl?: string; cleanup(): Promise<void> };
  let appClient: pg.Client;
  const appSql = async (text: string, params: unknown[] = []) => (await appClient.query(text, params)).rows;
  const appName = () => new URL(app.databaseUrl!).pathname.slice(1);

  beforeAll(async () => {
    system = await postgres!.create();
    app = await postgres!.create();
    appClient = new pg.Client({ connectionString: app.databaseUrl });
    await appClient.connect();
    await appSql(`CREATE TABLE payments (id text PRIMARY KEY, cents integer NOT NULL)`);
    await Stepwise.launch({ databaseUrl: system.databaseUrl, applicationDatabaseUrl: app.databaseUrl, logLevel: "silent" });
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    await appClient.end();
    await system.cleanup();
    await app.cleanup();
  });

  test("the transaction runs on the application database and records its output there and in the system database", async () => {
    appRuns = 0;
    const id = "pay-1";
    expect(await (await Stepwise.startWorkflow(paymentFlow, { workflowID: id })(id, 500)).getResult()).toEqual({
      database: appName(),
      after: "after",
    });
    expect(await appSql(`SELECT id, cents FROM payments`)).toEqual([{ id, cents: 500 }]);
    expect(await appSql(`SELECT workflow_id, function_id, step_id FROM stepwise_app.transaction_outputs`)).toEqual([
      { workflow_id: id, function_id: 0, step_id: "recordPayment" },
    ]);
    expect(await sql(`SELECT to_regclass('public.payments') IS NULL AS absent`)).toEqual([{ absent: true }]);
    const [recorded] = await Stepwise.listWorkflowSteps(id);
    expect(recorded).toMatchObject({ functionID: 0, stepID: "recordPayment", output: appName() });
    expect(appRuns).toBe(1);
  });

  test("deleting a run deletes its transaction outputs in the application database too", async () => {
    const id = "pay-deleted";
    await (await Stepwise.startWorkflow(paymentFlow, { workflowID: id })(id, 100)).getResult();
    const outputs = () => appSql(`SELECT function_id FROM stepwise_app.transaction_outputs WHERE workflow_id = $1`, [id]);
    expect(await outputs()).toHaveLength(1);
    expect(await Stepwise.deleteWorkflow(id)).toBe(true);
    expect(await outputs()).toEqual([]);
    // The user's own rows are theirs: only Stepwise's record of the run goes.
    expect(await appSql(`SELECT cents FROM payments WHERE id = $1`, [id])).toEqual([{ cents: 100 }]);
  });

  test("committed in the application database but never checkpointed: recovery adopts it, never runs it again", async () => {
    appRuns = 0;
    const id = "pay-2";
    await (await Stepwise.startWorkflow(paymentFlow, { workflowID: id })(id, 700)).getResult();
    // What a crash right after the commit leaves: the output in the application
    // database, no checkpoint in the system database, the run PENDING.
    await sql(`DELETE FROM stepwise.operation_outputs WHERE workflow_id = $1`, [id]);
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual({ database: appName(), after: "after" });
    expect(appRuns).toBe(1);
    expect(await appSql(`SELECT count(*)::int AS n FROM payments WHERE id = $1`, [id])).toEqual([{ n: 1 }]);
    expect((await Stepwise.listWorkflowSteps(id)).map((s) => s.stepID)).toEqual(["recordPayment", "afterPayment"]);
  });

  test("never committed: recovery runs the transaction", async () => {
    appRuns = 0;
    const id = "pay-3";
    await (await Stepwise.startWorkflow(paymentFlow, { workflowID: id })(id, 900)).getResult();
    // What a crash before the commit leaves: nothing in either database.
    await appSql(`DELETE FROM payments WHERE id = $1`, [id]);
    await appSql(`DELETE FROM stepwise_app.transaction_outputs WHERE workflow_id = $1`, [id]);
    await sql(`DELETE FROM stepwise.operation_outputs WHERE workflow_id = $1`, [id]);
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual({ database: appName(), after: "after" });
    expect(appRuns).toBe(2);
    expect(await appSql(`SELECT count(*)::int AS n FROM payments WHERE id = $1`, [id])).toEqual([{ n: 1 }]);
  });

  test("a failing transaction rolls back; its error is recorded in both databases", async () => {
    const id = "pay-4";
    const error = await (await Stepwise.startWorkflow(paymentFlow, { workflowID: id })(id, -1)).getResult().catch((e) => e);
    expect(error).toBeInstanceOf(StepwiseError);
    expect(error.message).toBe("negative amount for pay-4");
    expect(await appSql(`SELECT count(*)::int AS n FROM payments WHERE id = $1`, [id])).toEqual([{ n: 0 }]);
    const [row] = await appSql(`SELECT output, error FROM stepwise_app.transaction_outputs WHERE workflow_id = $1`, [id]);
    expect(row.output).toBeNull();
    expect(row.error).toContain("negative amount");
    expect((await Stepwise.listWorkflowSteps(id))[0]!.error).toBeInstanceOf(StepwiseError);
  });

  test("the same URL for both is one database: no application-database table", async () => {
    await Stepwise.shutdown();
    try {
      await Stepwise.launch({ databaseUrl: system.databaseUrl, applicationDatabaseUrl: system.databaseUrl, logLevel: "silent" });
      expect(requireExecutor().appdb).toBeUndefined();
      expect(await sql(`SELECT to_regnamespace('stepwise_app') IS NULL AS absent`)).toEqual([{ absent: true }]);
    } finally {
      await Stepwise.shutdown();
      await Stepwise.launch({ databaseUrl: system.databaseUrl, applicationDatabaseUrl: app.databaseUrl, logLevel: "silent" });
    }
  });

  test("an application database that cannot be reached is named, without its password", async () => {
    await Stepwise.shutdown();
    try {
      const url = new URL(serverUrl!);
      url.password = "s3cret";
      url.port = "1";
      const error = await Stepwise.launch({
        databaseUrl: system.databaseUrl,
        applicationDatabaseUrl: url.toString(),
        logLevel: "silent",
      }).catch((e) => e);
      expect(error.name).toBe("DatabaseConnectionError");
      expect(error.message).toMatch(/application database \(postgres at 127\.0\.0\.1:1\/postgres\)/);
      expect(error.message).toContain("applicationDatabaseUrl");
      expect(error.message).not.toContain("s3cret");
    } finally {
      await Stepwise.launch({ databaseUrl: system.databaseUrl, applicationDatabaseUrl: app.databaseUrl, logLevel: "silent" });
    }
  });
});

describe.skipIf(!postgres)("the embedded system database with a Postgres application database", () => {
  let system: { dataDir?: string; cleanup(): Promise<void> };
  let app: { databaseUrl?: string; cleanup(): Promise<void> };
  let appClient: pg.Client;
  const appSql = async (text: string, params: unknown[] = []) => (await appClient.query(text, params)).rows;

  beforeAll(async () => {
    system = await databases.find((d) => d.name === "pglite")!.create();
    app = await postgres!.create();
    appClient = new pg.Client({ connectionString: app.databaseUrl });
    await appClient.connect();
    await appSql(`CREATE TABLE payments (id text PRIMARY KEY, cents integer NOT NULL)`);
    await Stepwise.launch({ dataDir: system.dataDir, applicationDatabaseUrl: app.databaseUrl, logLevel: "silent" });
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    await appClient.end();
    await system.cleanup();
    await app.cleanup();
  });

  test("transactions run on Postgres; a committed one is adopted on recovery", async () => {
    appRuns = 0;
    const id = "embedded-1";
    const expected = { database: new URL(app.databaseUrl!).pathname.slice(1), after: "after" };
    expect(await (await Stepwise.startWorkflow(paymentFlow, { workflowID: id })(id, 300)).getResult()).toEqual(expected);
    expect(requireExecutor().sysdb.driver.kind).toBe("pglite");
    await sql(`DELETE FROM stepwise.operation_outputs WHERE workflow_id = $1`, [id]);
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual(expected);
    expect(appRuns).toBe(1);
    expect(await appSql(`SELECT count(*)::int AS n FROM payments WHERE id = $1`, [id])).toEqual([{ n: 1 }]);
  });
});
