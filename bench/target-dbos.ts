/**
 * DBOS Transact (@dbos-inc/dbos-sdk, a devDependency used only here) as a benchmark
 * target: the same workflows through its registerStep/registerWorkflow API, with its
 * defaults (pool of 10 connections, like Stepwise's) on a database of its own.
 */
import { DBOS } from "@dbos-inc/dbos-sdk";
import pg from "pg";
import { counters, maybeHang, type Target } from "./target.js";

const work = DBOS.registerStep(
  async (i: number) => {
    counters.stepRuns++;
    return { i, ok: true };
  },
  { name: "bench.work" },
);

// DBOS registers a function once: two workflows need two functions.
const steps = () => async (n: number) => {
  for (let i = 0; i < n; i++) await work(i);
  return n;
};
const sequential = DBOS.registerWorkflow(steps(), { name: "bench.sequential" });
const small = DBOS.registerWorkflow(steps(), { name: "bench.small" });
const oneStep = DBOS.registerWorkflow(async (i: number) => work(i), { name: "bench.oneStep" });
const recoverable = DBOS.registerWorkflow(
  async (n: number) => {
    for (let i = 0; i < n; i++) {
      await maybeHang(i, n);
      await work(i);
    }
    counters.finished++;
    return n;
  },
  { name: "bench.recoverable" },
);

let client: pg.Client | undefined;

export const target: Target = {
  name: "dbos",
  async launch(where) {
    if (!where.url) throw new Error("DBOS Transact needs a Postgres server (set STEPWISE_BENCH_DATABASE_URL)");
    // A fixed application version: the setup process and the recovering one run the same code.
    DBOS.setConfig({ name: "stepwise-bench", systemDatabaseUrl: where.url, logLevel: "error", applicationVersion: "bench" });
    await DBOS.launch();
    client = new pg.Client({ connectionString: where.url });
    await client.connect();
  },
  async sequential(n) {
    await sequential(n);
  },
  async oneStep(i) {
    await oneStep(i);
  },
  async small(n) {
    await small(n);
  },
  async startRecoverable(id, n) {
    await DBOS.startWorkflow(recoverable, { workflowID: id })(n);
  },
  async unfinished() {
    const { rows } = await client!.query<{ n: string }>(
      `SELECT count(*) AS n FROM dbos.workflow_status WHERE name = 'bench.recoverable' AND status <> 'SUCCESS'`,
    );
    return Number(rows[0]!.n);
  },
  async shutdown() {
    await client?.end();
    await DBOS.shutdown();
  },
};
