/**
 * Per-step cost of Stepwise against the floor: a raw single-row INSERT loop on the same
 * database, measured in the same run. Not a test: it prints figures.
 *
 *   npm run bench                                   # embedded PGlite
 *   STEPWISE_BENCH_DATABASE_URL=postgres://... npm run bench
 *
 * Workloads: one workflow of 1000 sequential steps; 200 concurrent workflows of 10 steps.
 * Each figure is the median of REPS repetitions (default 5), with min and max; floor and
 * Stepwise alternate, and the ratio is the median of the per-repetition ratios.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Stepwise, step, workflow } from "stepwise";
import { requireExecutor } from "../runtime/executor.js";

const REPS = Number(process.env.BENCH_REPS ?? 5);
const SEQUENTIAL_STEPS = 1000;
const CONCURRENT_WORKFLOWS = 200;
const STEPS_PER_WORKFLOW = 10;

const work = step(async (i: number) => ({ i, ok: true }), { name: "stepcost.work" });

const sequential = workflow(
  async (n: number) => {
    for (let i = 0; i < n; i++) await work(i);
    return n;
  },
  { name: "stepcost.sequential" },
);

const small = workflow(
  async (n: number) => {
    for (let i = 0; i < n; i++) await work(i);
    return n;
  },
  { name: "stepcost.small" },
);

interface Figure {
  median: number;
  min: number;
  max: number;
}

/** Runs floor and Stepwise alternately, REPS times each, so drift on a shared machine hits both alike. */
async function paired(floor: () => Promise<number>, stepwise: () => Promise<number>): Promise<[Figure, Figure, Figure]> {
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const f = await floor();
    const s = await stepwise();
    a.push(f);
    b.push(s);
    ratios.push(s / f);
  }
  return [figure(a), figure(b), figure(ratios)];
}

function figure(samples: number[]): Figure {
  const sorted = [...samples].sort((x, y) => x - y);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)! };
}

const ratio = (f: Figure) => `${f.median.toFixed(2)}x (${f.min.toFixed(2)}-${f.max.toFixed(2)})`;
const ms = (f: Figure) => `${f.median.toFixed(3)} ms (min ${f.min.toFixed(3)}, max ${f.max.toFixed(3)})`;

async function main() {
  const url = process.env.STEPWISE_BENCH_DATABASE_URL;
  const dataDir = url ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), "stepwise-bench-"));
  await Stepwise.launch({ databaseUrl: url, dataDir, logLevel: "error", recover: false });
  const db = requireExecutor().sysdb.driver;
  await db.query(`CREATE TABLE IF NOT EXISTS stepwise.bench_floor (id text, n integer, payload text)`);
  let run = 0;

  // Warm up both paths (connections, prepared statements, JIT).
  await sequential(50);
  for (let i = 0; i < 50; i++) await db.query(`INSERT INTO stepwise.bench_floor VALUES ($1, $2, $3)`, ["w", i, "x"]);

  const [floorSequential, stepSequential, ratioSequential] = await paired(async () => {
    const start = performance.now();
    for (let i = 0; i < SEQUENTIAL_STEPS; i++) {
      await db.query(`INSERT INTO stepwise.bench_floor VALUES ($1, $2, $3)`, [`f${run}`, i, `{"json":{"i":${i},"ok":true}}`], "bench_floor");
    }
    run++;
    return (performance.now() - start) / SEQUENTIAL_STEPS;
  }, async () => {
    const start = performance.now();
    await sequential(SEQUENTIAL_STEPS);
    return (performance.now() - start) / SEQUENTIAL_STEPS;
  });

  const totalSteps = CONCURRENT_WORKFLOWS * STEPS_PER_WORKFLOW;
  const [floorConcurrent, stepConcurrent, ratioConcurrent] = await paired(async () => {
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENT_WORKFLOWS }, async (_, w) => {
        for (let i = 0; i < STEPS_PER_WORKFLOW; i++) {
          await db.query(`INSERT INTO stepwise.bench_floor VALUES ($1, $2, $3)`, [`c${run}-${w}`, i, `{"json":{"i":${i},"ok":true}}`], "bench_floor");
        }
      }),
    );
    run++;
    return (performance.now() - start) / totalSteps;
  }, async () => {
    const start = performance.now();
    await Promise.all(Array.from({ length: CONCURRENT_WORKFLOWS }, () => small(STEPS_PER_WORKFLOW)));
    return (performance.now() - start) / totalSteps;
  });

  const where = url ? requireExecutor().sysdb.description : "embedded PGlite";
  console.log(`Stepwise step cost on ${where}, ${os.cpus().length} cores, median of ${REPS}`);
  console.log("");
  console.log("| workload | raw INSERT (floor) per row | Stepwise per step | Stepwise / floor | Stepwise steps/s |");
  console.log("| --- | --- | --- | --- | --- |");
  console.log(
    `| 1 workflow x ${SEQUENTIAL_STEPS} sequential steps | ${ms(floorSequential)} | ${ms(stepSequential)} | ` +
      `${ratio(ratioSequential)} | ${Math.round(1000 / stepSequential.median)} |`,
  );
  console.log(
    `| ${CONCURRENT_WORKFLOWS} concurrent workflows x ${STEPS_PER_WORKFLOW} steps | ${ms(floorConcurrent)} | ${ms(stepConcurrent)} | ` +
      `${ratio(ratioConcurrent)} | ${Math.round(1000 / stepConcurrent.median)} |`,
  );

  await db.query(`DROP TABLE stepwise.bench_floor`);
  // Leave no benchmark runs behind in a shared database.
  await db.query(`DELETE FROM stepwise.operation_outputs WHERE workflow_id IN (SELECT workflow_id FROM stepwise.workflow_status WHERE name LIKE 'stepcost.%')`);
  await db.query(`DELETE FROM stepwise.workflow_status WHERE name LIKE 'stepcost.%'`);
  await Stepwise.shutdown();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}

await main();
