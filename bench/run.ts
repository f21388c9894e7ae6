/**
 * `npm run bench`: every benchmark in one run, printed as one table and written to
 * bench/results/ (JSON, markdown, an SVG chart).
 *
 *   npm run bench                                                       # embedded PGlite: Stepwise and the floor
 *   STEPWISE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench   # + DBOS Transact
 *
 * Three targets, each in a database of its own created for the run (dropped after), each
 * repetition in a fresh process of its own, their order rotated from one repetition to
 * the next: the floor (raw single-row INSERTs through the same driver and pool), Stepwise,
 * and DBOS Transact 5.3 (@dbos-inc/dbos-sdk; needs a server, skipped on PGlite).
 *
 * Workloads: per-step cost (1 workflow x 1000 sequential steps), per-workflow cost (1000
 * one-step workflows one after another), throughput (200 concurrent workflows x 10 steps),
 * recovery (10,000 workflows of 10 steps, SIGKILLed halfway, then a fresh process: time from
 * its spawn until the database shows all of them ended), statements and round trips per
 * step and per workflow (counted on the wire by a proxy, or pg_stat_statements when loaded),
 * and the build-time benchmarks (bench/build-cost, bundle-cost, check-cost) as child processes.
 *
 * Each timed figure is the median of BENCH_REPS (default 5) repetitions with min and max;
 * a ratio is the median of the per-repetition ratios. Smaller runs for debugging:
 * BENCH_REPS, BENCH_RECOVERY_REPS, BENCH_SEQUENTIAL, BENCH_ONE_STEP, BENCH_CONCURRENT,
 * BENCH_STEPS_PER_WORKFLOW, BENCH_RECOVERY_WORKFLOWS, BENCH_BUILD_RUNS, BENCH_BUILD=0,
 * BENCH_TARGETS=floor,stepwise, BENCH_RESULTS_DIR.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { renderChart } from "./chart.js";
import { diff, snapshot, startCountingProxy, type Counts } from "./count-proxy.js";
import type { Sizes, TimeResult } from "./suite-child.js";
import type { TargetName, Where } from "./target.js";

const env = (name: string, fallback: number) => {
  const v = process.env[name];
  return v ? Number(v) : fallback;
};
const REPS = env("BENCH_REPS", 5);
const RECOVERY_REPS = env("BENCH_RECOVERY_REPS", REPS);
const BUILD_RUNS = env("BENCH_BUILD_RUNS", 5);
const sizes: Sizes = {
  sequentialSteps: env("BENCH_SEQUENTIAL", 1000),
  oneStepWorkflows: env("BENCH_ONE_STEP", 1000),
  concurrentWorkflows: env("BENCH_CONCURRENT", 200),
  stepsPerWorkflow: env("BENCH_STEPS_PER_WORKFLOW", 10),
};
const RECOVERY_WORKFLOWS = env("BENCH_RECOVERY_WORKFLOWS", 10_000);
const RECOVERY_STEPS = 10;
const RECOVERY_TIMEOUT_MS = env("BENCH_RECOVERY_TIMEOUT_S", 600) * 1000;

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, here.includes(path.join("dist", "bench")) ? "../.." : "..");
const RESULTS = process.env.BENCH_RESULTS_DIR ?? path.join(REPO, "bench", "results");
const baseUrl = process.env.STEPWISE_BENCH_DATABASE_URL || undefined;
const requested = (process.env.BENCH_TARGETS ?? "floor,stepwise,dbos").split(",") as TargetName[];
const targets = requested.filter((t) => t !== "dbos" || baseUrl);

// ---------------------------------------------------------------------------- figures

interface Figure {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

function figure(samples: number[]): Figure {
  const s = [...samples].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  return { median, min: s[0]!, max: s.at(-1)!, samples };
}

// ---------------------------------------------------------------------------- processes

const childScript = (name: string) => path.join(here, `${name}.js`);
const live = new Set<ChildProcess>();

interface Spawned {
  child: ChildProcess;
  /** Resolves with the first stdout line starting with `prefix` (the rest of it). */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

function start(script: string, arg: object, extraEnv: Record<string, string> = {}, ipc = false): Spawned {
  const child = spawn(process.execPath, [childScript(script), JSON.stringify(arg)], {
    cwd: REPO,
    env: { ...process.env, ...extraEnv },
    stdio: ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let stdout = "";
  let stderr = "";
  const waiters: { prefix: string; resolve: (s: string) => void }[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdout!.on("data", (d) => {
    stdout += d;
    for (const w of [...waiters]) {
      const found = stdout.split("\n").find((l) => l.startsWith(w.prefix));
      if (found !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(found.slice(w.prefix.length).trim());
      }
    }
  });
  return {
    child,
    exited,
    line(prefix, timeoutMs = 600_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script} ${JSON.stringify(arg)}: no ${prefix} within ${timeoutMs / 1000}s\n${stderr}`)), timeoutMs);
        waiters.push({ prefix, resolve: (s) => (clearTimeout(timer), resolve(s)) });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${script} (${(arg as { target?: string }).target}) exited with ${code} before ${prefix}:\n${stderr.slice(-4000)}`));
        });
      });
    },
  };
}

// ---------------------------------------------------------------------------- databases

const created: string[] = [];
const tmpDirs: string[] = [];
const runTag = `${Date.now().toString(36)}_${process.pid}`;

function urlFor(database: string): string {
  const u = new URL(baseUrl!);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: baseUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function createDatabase(name: string, template?: string): Promise<void> {
  await admin(async (c) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ""}`);
        break;
      } catch (error) {
        // A killed process's backends may not have gone yet.
        if (!template || attempt > 50) throw error;
        await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [template]);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });
  created.push(name);
}

async function dropDatabase(name: string): Promise<void> {
  await admin(async (c) => {
    await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
    await c.query(`DROP DATABASE IF EXISTS ${name}`);
  });
  created.splice(created.indexOf(name), 1);
}

function tmpDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `stepwise-bench-${label}-`));
  tmpDirs.push(dir);
  return dir;
}

const dbName = (t: TargetName, suffix: string) => `${t === "dbos" ? "dbos_bench" : `stepwise_bench_${t}`}_${runTag}_${suffix}`;

/** A fresh place for a target: a new database on the server, or a new PGlite folder. */
async function freshWhere(t: TargetName, suffix: string): Promise<Where & { database?: string }> {
  if (!baseUrl) return { dataDir: path.join(tmpDir(`${t}-${suffix}`), "db") };
  const database = dbName(t, suffix);
  await createDatabase(database);
  return { url: urlFor(database), database };
}

// ---------------------------------------------------------------------------- load

const loadAtStart = os.loadavg()[0]!;
const loadSamples: number[] = [];
const loadTimer = setInterval(() => loadSamples.push(os.loadavg()[0]!), 5000);
loadSamples.push(os.loadavg()[0]!);

function log(message: string) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)} load ${os.loadavg()[0]!.toFixed(2)}] ${message}\n`);
}

// ---------------------------------------------------------------------------- workloads

type PerTarget<T> = Partial<Record<TargetName, T>>;

async function timedSuite(): Promise<PerTarget<TimeResult[]>> {
  const wheres: PerTarget<Where> = {};
  for (const t of targets) wheres[t] = await freshWhere(t, "suite");
  const results: PerTarget<TimeResult[]> = {};
  for (let r = 0; r < REPS; r++) {
    // Rotate the order so that drift on a shared machine spreads over every target alike.
    const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
    for (const t of order) {
      const p = start("suite-child", { target: t, where: wheres[t], mode: "time", sizes });
      const result = JSON.parse(await p.line("RESULT")) as TimeResult;
      await p.exited;
      (results[t] ??= []).push(result);
      log(`rep ${r + 1}/${REPS} ${t}: ${result.perStepMs.toFixed(3)} ms/step, ${result.perWorkflowMs.toFixed(3)} ms/workflow, ` +
        `${Math.round((sizes.concurrentWorkflows * sizes.stepsPerWorkflow) / (result.concurrentMs / 1000))} steps/s`);
    }
  }
  return results;
}

interface RecoveryRun {
  /** From the fresh process's spawn until every workflow is recorded as ended, ms. */
  totalMs: number;
  /** From launch() being called in it, ms. */
  fromLaunchMs: number;
  /** How long launch() took (it claims the pending runs and starts them), ms. */
  launchMs: number;
  /** Step bodies run by the recovering process (expected: workflows x steps/2). */
  stepRuns: number;
}

async function recovery(t: TargetName): Promise<RecoveryRun[]> {
  const template = await freshWhere(t, "rtpl");
  log(`recovery ${t}: starting ${RECOVERY_WORKFLOWS} workflows and killing them halfway`);
  const setupStarted = performance.now();
  const setup = start("recovery-child", { target: t, where: template, phase: "setup", workflows: RECOVERY_WORKFLOWS, steps: RECOVERY_STEPS }, { BENCH_HANG: "1" });
  await setup.line("HALFWAY", RECOVERY_TIMEOUT_MS);
  setup.child.kill("SIGKILL");
  await setup.exited;
  log(`recovery ${t}: setup took ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);
  const runs: RecoveryRun[] = [];
  for (let r = 0; r < RECOVERY_REPS; r++) {
    let where: Where;
    let database: string | undefined;
    if (baseUrl) {
      database = dbName(t, `r${r}`);
      await createDatabase(database, (template as { database: string }).database);
      where = { url: urlFor(database) };
    } else {
      const dir = path.join(tmpDir(`${t}-r${r}`), "db");
      fs.cpSync(template.dataDir!, dir, { recursive: true });
      where = { dataDir: dir };
    }
    const spawned = performance.now();
    const p = start("recovery-child", { target: t, where, phase: "recover", workflows: RECOVERY_WORKFLOWS, steps: RECOVERY_STEPS });
    const done = JSON.parse(await p.line("DONE", RECOVERY_TIMEOUT_MS)) as { doneMs: number; launchedMs: number; stepRuns: number };
    const totalMs = performance.now() - spawned;
    await p.exited;
    runs.push({ totalMs, fromLaunchMs: done.doneMs, launchMs: done.launchedMs, stepRuns: done.stepRuns });
    log(`recovery ${t} rep ${r + 1}/${RECOVERY_REPS}: ${(totalMs / 1000).toFixed(2)} s, ${done.stepRuns} step bodies run`);
    if (database) await dropDatabase(database);
    else fs.rmSync(path.dirname(where.dataDir!), { recursive: true, force: true });
  }
  if (baseUrl) await dropDatabase((template as { database: string }).database);
  return runs;
}

interface StatementCounts {
  method: string;
  perStep: number;
  roundTripsPerStep: number;
  /** Start and finish of a workflow with no step. */
  perWorkflow: number;
  roundTripsPerWorkflow: number;
  /** What one step sends, by statement text, per step. */
  stepStatements: { text: string; perStep: number }[];
  workflowStatements: { text: string; perWorkflow: number }[];
}

/** Whether the server has pg_stat_statements loaded; tried in a scratch database, dropped after. */
async function hasPgStatStatements(): Promise<boolean> {
  const database = `stepwise_bench_${runTag}_pgss`;
  await createDatabase(database);
  const c = new pg.Client({ connectionString: urlFor(database) });
  await c.connect();
  try {
    await c.query(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
    await c.query(`SELECT 1 FROM pg_stat_statements LIMIT 1`);
    return true;
  } catch {
    return false;
  } finally {
    await c.end();
    await dropDatabase(database);
  }
}

/** Statements and round trips per step and per workflow, counted by the wire-protocol proxy. */
async function countStatements(t: TargetName): Promise<StatementCounts> {
  const where = await freshWhere(t, "count");
  const u = new URL(where.url!);
  const proxy = await startCountingProxy(u.hostname, Number(u.port || 5432));
  u.hostname = "127.0.0.1";
  u.port = String(proxy.port);
  const marks = new Map<string, Counts>();
  const p = start("suite-child", { target: t, where: { url: u.toString() }, mode: "count", sizes }, {}, true);
  p.child.on("message", (m) => {
    const label = String(m).replace(/^mark:/, "");
    marks.set(label, snapshot(proxy.counts));
    p.child.send(`ack:${label}`);
  });
  const code = await p.exited;
  await proxy.close();
  if (code !== 0) throw new Error(`statement count for ${t} failed (exit ${code})`);
  await dropDatabase(where.database!);
  const empty = diff(marks.get("empty-end")!, marks.get("empty-start")!);
  const steps = diff(marks.get("steps-end")!, marks.get("steps-start")!);
  const workflows = 100;
  const n = 1000;
  // A workflow of n steps sends what an empty one does plus n steps' worth.
  const perWorkflow = empty.statements / workflows;
  const roundTripsPerWorkflow = empty.roundTrips / workflows;
  const sorted = (m: Map<string, number>, by: number) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([text, count]) => ({ text: text.slice(0, 160), count: count / by }));
  return {
    method: "wire-protocol counting proxy (bench/count-proxy.ts)",
    perStep: (steps.statements - perWorkflow) / n,
    roundTripsPerStep: (steps.roundTrips - roundTripsPerWorkflow) / n,
    perWorkflow,
    roundTripsPerWorkflow,
    stepStatements: sorted(steps.byText, n).map((s) => ({ text: s.text, perStep: s.count })),
    workflowStatements: sorted(empty.byText, workflows).map((s) => ({ text: s.text, perWorkflow: s.count })),
  };
}

interface BuildBench {
  script: string;
  command: string;
  output?: string;
  error?: string;
}

async function buildBenches(): Promise<BuildBench[]> {
  const benches: BuildBench[] = [];
  // bench/check-cost.ts and bench/bundle-cost.ts join the report as soon as they exist.
  for (const script of ["build-cost", "bundle-cost", "check-cost"]) {
    const file = childScript(script);
    const command = `node dist/bench/${script}.js --runs ${BUILD_RUNS}`;
    if (!fs.existsSync(file)) {
      benches.push({ script, command, error: `bench/${script}.ts does not exist yet` });
      continue;
    }
    log(`build benchmark ${script}`);
    const output = await new Promise<BuildBench>((resolve) => {
      const child = spawn(process.execPath, [file, "--runs", String(BUILD_RUNS)], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
      live.add(child);
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("exit", (code) => {
        live.delete(child);
        resolve(code === 0 ? { script, command, output: out.trim() } : { script, command, error: `exit ${code}: ${err.slice(-2000)}` });
      });
    });
    benches.push(output);
  }
  return benches;
}

// ---------------------------------------------------------------------------- report

async function serverFacts(): Promise<Record<string, string>> {
  if (!baseUrl) return { database: "embedded PGlite (fsync off, in this process)" };
  return admin(async (c) => {
    const show = async (s: string) => String((await c.query(`SHOW ${s}`)).rows[0][s]);
    return {
      database: `PostgreSQL ${await show("server_version")} at ${new URL(baseUrl).host}`,
      fsync: await show("fsync"),
      synchronous_commit: await show("synchronous_commit"),
      shared_buffers: await show("shared_buffers"),
    };
  });
}

function packageVersion(name: string): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(REPO, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return "?";
  }
}

async function main() {
  fs.mkdirSync(RESULTS, { recursive: true });
  const startedAt = new Date();
  const facts = await serverFacts();
  log(`targets ${targets.join(", ")} on ${facts.database}; ${REPS} repetitions`);
  if (!baseUrl && requested.includes("dbos")) log("DBOS Transact needs a Postgres server: set STEPWISE_BENCH_DATABASE_URL to include it");

  const timed = await timedSuite();
  const recoveries: PerTarget<RecoveryRun[]> = {};
  if (RECOVERY_REPS > 0) for (const t of targets.filter((t) => t !== "floor")) recoveries[t] = await recovery(t);

  let statements: PerTarget<StatementCounts> = {};
  let statementNote: string;
  if (baseUrl) {
    const ext = await hasPgStatStatements();
    statementNote = ext
      ? "pg_stat_statements is loaded on this server; counts here are from the wire-protocol counting proxy (bench/count-proxy.ts), which also gives round trips"
      : "pg_stat_statements is not loaded on this server (it needs shared_preload_libraries and a restart): counted by a wire-protocol proxy between client and server (bench/count-proxy.ts): every Execute or simple Query is a statement, every Sync or simple Query a round trip";
    for (const t of targets) statements[t] = await countStatements(t);
  } else {
    statementNote = "not counted on PGlite (no wire protocol between client and database); run against a server";
  }

  const builds = process.env.BENCH_BUILD === "0" ? [] : await buildBenches();
  clearInterval(loadTimer);
  loadSamples.push(os.loadavg()[0]!);

  // ------------------------------------------------------------------ figures per target
  const totalSteps = sizes.concurrentWorkflows * sizes.stepsPerWorkflow;
  const metric = {
    perStep: (r: TimeResult) => r.perStepMs,
    perWorkflow: (r: TimeResult) => r.perWorkflowMs,
    stepsPerSecond: (r: TimeResult) => totalSteps / (r.concurrentMs / 1000),
    workflowsPerSecond: (r: TimeResult) => sizes.concurrentWorkflows / (r.concurrentMs / 1000),
  };
  type Metric = keyof typeof metric;
  const figures: PerTarget<Record<Metric, Figure>> = {};
  for (const t of targets) {
    figures[t] = Object.fromEntries(
      (Object.keys(metric) as Metric[]).map((m) => [m, figure(timed[t]!.map(metric[m]))]),
    ) as Record<Metric, Figure>;
  }
  /** Per-repetition ratio Stepwise / other (same repetition, same run). */
  const ratio = (m: Metric, other: TargetName): Figure | undefined =>
    timed[other] && timed.stepwise
      ? figure(timed.stepwise.map((r, i) => metric[m](r) / metric[m](timed[other]![i]!)))
      : undefined;
  const recoveryFigures: PerTarget<Figure> = {};
  for (const t of Object.keys(recoveries) as TargetName[]) recoveryFigures[t] = figure(recoveries[t]!.map((r) => r.totalMs / 1000));
  const recoveryRatio =
    recoveries.stepwise && recoveries.dbos
      ? figure(recoveries.stepwise.map((r, i) => r.totalMs / recoveries.dbos![i]!.totalMs))
      : undefined;

  // ------------------------------------------------------------------ table
  const digits = (v: number) => (v >= 1000 ? 0 : v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3);
  const num = (v: number) => v.toLocaleString("en-US", { minimumFractionDigits: digits(v), maximumFractionDigits: digits(v) });
  const cell = (f: Figure | undefined, unit = "") => (f ? `${num(f.median)}${unit} (${num(f.min)}–${num(f.max)})` : "—");
  const rcell = (f: Figure | undefined) => (f ? `${f.median.toFixed(2)}x (${f.min.toFixed(2)}–${f.max.toFixed(2)})` : "—");
  const hasDbos = targets.includes("dbos");
  const header = ["workload", "floor: raw INSERT", "Stepwise", ...(hasDbos ? ["DBOS Transact"] : []), "Stepwise / floor", ...(hasDbos ? ["Stepwise / DBOS"] : [])];
  const rows: string[][] = [];
  const row = (name: string, cells: PerTarget<string>, toFloor: string, toDbos: string) =>
    rows.push([name, cells.floor ?? "—", cells.stepwise ?? "—", ...(hasDbos ? [cells.dbos ?? "—"] : []), toFloor, ...(hasDbos ? [toDbos] : [])]);
  const timedRow = (name: string, m: Metric, unit: string) =>
    row(name, Object.fromEntries(targets.map((t) => [t, cell(figures[t]![m], unit)])), rcell(ratio(m, "floor")), rcell(ratio(m, "dbos")));
  timedRow(`per step: 1 workflow x ${sizes.sequentialSteps} sequential steps (floor: 1 INSERT per step)`, "perStep", " ms");
  timedRow(`per workflow: ${sizes.oneStepWorkflows} one-step workflows, sequential (floor: 3 INSERTs per workflow)`, "perWorkflow", " ms");
  timedRow(`throughput: ${sizes.concurrentWorkflows} concurrent workflows x ${sizes.stepsPerWorkflow} steps, steps/s (higher is better)`, "stepsPerSecond", "");
  timedRow(`throughput: the same, workflows/s (higher is better)`, "workflowsPerSecond", "");
  if (RECOVERY_REPS > 0) {
    row(
      `recovery: ${RECOVERY_WORKFLOWS.toLocaleString("en-US")} workflows of ${RECOVERY_STEPS} steps killed halfway, fresh process until all ended`,
      { stepwise: cell(recoveryFigures.stepwise, " s"), dbos: cell(recoveryFigures.dbos, " s") },
      "—",
      rcell(recoveryRatio),
    );
  }
  if (baseUrl) {
    const s = (t: TargetName, k: keyof StatementCounts) => (statements[t] ? (statements[t]![k] as number).toFixed(2) : "—");
    const st = (k: keyof StatementCounts, name: string) =>
      row(name, Object.fromEntries(targets.map((t) => [t, s(t, k)])), "—", "—");
    st("perStep", "statements per step (counted on the wire)");
    st("roundTripsPerStep", "round trips per step");
    st("perWorkflow", "statements to start and finish a workflow (no steps)");
    st("roundTripsPerWorkflow", "round trips to start and finish a workflow");
  }
  const table = [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

  const load = figure(loadSamples);
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
  const versions = `stepwise ${JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version}, @dbos-inc/dbos-sdk ${packageVersion("@dbos-inc/dbos-sdk")}, pg ${packageVersion("pg")}, @electric-sql/pglite ${packageVersion("@electric-sql/pglite")}`;
  const server = Object.entries(facts).map(([k, v]) => (k === "database" ? v : `${k}=${v}`)).join(", ");
  const loadLine =
    `1-minute load average: ${loadAtStart.toFixed(2)} at the start; during the run median ${load.median.toFixed(2)}, min ${load.min.toFixed(2)}, max ${load.max.toFixed(2)} ` +
    `(sampled every 5 s; the benchmark's own processes, Node and Postgres, keep both cores busy and count in it)`;

  const lines: string[] = [];
  lines.push(`# Stepwise benchmarks, ${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC`);
  lines.push("");
  lines.push(`- machine: ${machine}`);
  lines.push(`- database: ${server}`);
  lines.push(`- versions: ${versions}`);
  lines.push(`- ${loadLine}`);
  lines.push(`- each timed figure: median (min–max) of ${REPS} repetitions, each target's repetition in a fresh process on a database of its own; ratios are medians of per-repetition ratios (Stepwise's figure / the other's: below 1 is faster for times, above 1 is better for throughput); recovery: ${RECOVERY_REPS} repetitions`);
  lines.push(`- statements: ${statementNote}`);
  lines.push("");
  lines.push(table);
  if (baseUrl) {
    lines.push("");
    lines.push("What one step and one workflow send (statements by text, per step / per workflow):");
    for (const t of targets) {
      const s = statements[t]!;
      lines.push("");
      lines.push(`- ${t}, per step: ${s.stepStatements.filter((x) => x.perStep >= 0.1).map((x) => `\`${x.text}\` x${x.perStep.toFixed(2)}`).join("; ") || "—"}`);
      lines.push(`- ${t}, per workflow: ${s.workflowStatements.filter((x) => x.perWorkflow >= 0.1).map((x) => `\`${x.text}\` x${x.perWorkflow.toFixed(2)}`).join("; ") || "—"}`);
    }
  }
  if (RECOVERY_REPS > 0) {
    lines.push("");
    for (const t of Object.keys(recoveries) as TargetName[]) {
      const runs = recoveries[t]!;
      lines.push(
        `- recovery, ${t}: from launch() ${cell(figure(runs.map((r) => r.fromLaunchMs / 1000)), " s")}, of which launch() itself ` +
          `${cell(figure(runs.map((r) => r.launchMs / 1000)), " s")}; step bodies run by the recovering process: ` +
          `${[...new Set(runs.map((r) => r.stepRuns))].join(", ")} (expected ${(RECOVERY_WORKFLOWS * RECOVERY_STEPS) / 2}: no completed step ran again)`,
      );
    }
  }
  if (builds.length) {
    lines.push("");
    lines.push("## Build time");
    for (const b of builds) {
      lines.push("");
      lines.push(`\`${b.command}\``);
      lines.push("");
      lines.push(b.output ? "```\n" + b.output + "\n```" : `not run: ${b.error}`);
    }
  }
  const report = lines.join("\n") + "\n";
  process.stdout.write("\n" + report);

  const label = baseUrl ? "postgres" : "pglite";
  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    server: facts,
    versions,
    loadAtStart,
    load,
    reps: REPS,
    recoveryReps: RECOVERY_REPS,
    sizes: { ...sizes, recoveryWorkflows: RECOVERY_WORKFLOWS, recoverySteps: RECOVERY_STEPS },
    timed,
    figures,
    ratios: Object.fromEntries(
      (Object.keys(metric) as Metric[]).map((m) => [m, { floor: ratio(m, "floor"), dbos: ratio(m, "dbos") }]),
    ),
    recoveries,
    recoveryFigures,
    statementNote,
    statements,
    builds,
  };
  fs.writeFileSync(path.join(RESULTS, `${label}.json`), JSON.stringify(json, null, 2) + "\n");
  fs.writeFileSync(path.join(RESULTS, `${label}.md`), report);
  fs.writeFileSync(
    path.join(RESULTS, `${label}.svg`),
    renderChart({
      title: `Stepwise vs ${hasDbos ? "DBOS Transact vs " : ""}raw INSERT, ${baseUrl ? `PostgreSQL ${facts.database.split(" ")[1]}` : "PGlite"}, ${os.cpus().length} cores`,
      subtitle: `median of ${REPS}, bars min–max; ${startedAt.toISOString().slice(0, 10)}`,
      panels: [
        { title: `per step, 1 workflow x ${sizes.sequentialSteps} sequential steps (ms, lower is better)`, bars: targets.map((t) => ({ label: t, figure: figures[t]!.perStep })), digits: 3 },
        { title: `throughput, ${sizes.concurrentWorkflows} workflows x ${sizes.stepsPerWorkflow} steps (steps/s, higher is better)`, bars: targets.map((t) => ({ label: t, figure: figures[t]!.stepsPerSecond })), digits: 0 },
      ],
    }),
  );
  log(`wrote ${path.relative(REPO, RESULTS)}/${label}.{json,md,svg}`);
}

async function cleanup() {
  clearInterval(loadTimer);
  for (const child of live) child.kill("SIGKILL");
  for (const name of [...created]) await dropDatabase(name).catch((e) => log(`could not drop ${name}: ${e.message}`));
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
}

process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
try {
  await main();
} finally {
  await cleanup();
}
