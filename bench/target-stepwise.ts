/** Stepwise as a benchmark target: the markers, no compiler needed (explicit names). */
import { Stepwise, step, workflow } from "stepwise";
import { requireExecutor } from "../runtime/executor.js";
import { counters, maybeHang, type Target } from "./target.js";

const work = step(
  async (i: number) => {
    counters.stepRuns++;
    return { i, ok: true };
  },
  { name: "bench.work" },
);

const steps = () => async (n: number) => {
  for (let i = 0; i < n; i++) await work(i);
  return n;
};
const sequential = workflow(steps(), { name: "bench.sequential" });
const small = workflow(steps(), { name: "bench.small" });
const oneStep = workflow(async (i: number) => work(i), { name: "bench.oneStep" });
const recoverable = workflow(
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

export const target: Target = {
  name: "stepwise",
  async launch(where) {
    // The recovery benchmark's fresh process recovers at launch, as an application does.
    await Stepwise.launch({ databaseUrl: where.url, dataDir: where.dataDir, logLevel: "error" });
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
    await Stepwise.startWorkflow(recoverable, { workflowID: id })(n);
  },
  async unfinished() {
    const { rows } = await requireExecutor().sysdb.driver.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM stepwise.workflow_status WHERE name = 'bench.recoverable' AND status <> 'SUCCESS'`,
    );
    return Number(rows[0]!.n);
  },
  async shutdown() {
    await Stepwise.shutdown();
  },
};
