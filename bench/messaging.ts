/**
 * Messaging and queue figures. Not a test: it prints them.
 *
 *   npm run bench:messaging                                    # embedded PGlite (1 process)
 *   STEPWISE_BENCH_DATABASE_URL=postgres://... npm run bench:messaging   # 3 worker processes
 *
 * - send/recv round trip: a workflow sends to an echo workflow and waits for the reply,
 *   200 times; the figure is the time per round trip (two sends, two recvs, each
 *   durable), median of REPS repetitions.
 * - queue throughput: 1000 one-step workflows enqueued, dequeued by 3 worker processes
 *   on Postgres (by this process on PGlite, which serves one process); workflows per
 *   second from the first enqueue to the last completion.
 * On Postgres the same workloads run on DBOS Transact (bench/messaging-dbos.ts) in the
 * same run, on a database of its own, and each line shows the ratio.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Stepwise } from "stepwise";
import { benchQueue, echo, pinger, queued } from "./messaging-jobs.js";

const REPS = Number(process.env.BENCH_REPS ?? 5);
const ROUNDS = 200;
const QUEUED = 1000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits: number) =>
  `${median(xs).toFixed(digits)} (min ${Math.min(...xs).toFixed(digits)}, max ${Math.max(...xs).toFixed(digits)})`;

async function main() {
  const url = process.env.STEPWISE_BENCH_DATABASE_URL;
  const dataDir = url ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), "stepwise-bench-"));
  const workers: ChildProcess[] = [];
  // With a server, 3 worker processes dequeue and this process only enqueues.
  await Stepwise.launch({ databaseUrl: url, dataDir, logLevel: "error", recover: false, listenQueues: url ? [] : undefined });
  try {
    const roundTrips: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const echoID = `bench-echo-${Date.now()}-${r}`;
      const echoHandle = await Stepwise.startWorkflow(echo, { workflowID: echoID })(ROUNDS);
      const started = performance.now();
      await (await Stepwise.startWorkflow(pinger)(echoID, ROUNDS)).getResult();
      roundTrips.push((performance.now() - started) / ROUNDS);
      await echoHandle.getResult();
    }

    if (url) {
      const workerFile = fileURLToPath(new URL("./messaging-worker.js", import.meta.url));
      for (let i = 0; i < 3; i++) {
        const child = spawn(process.execPath, [workerFile], {
          env: { ...process.env, STEPWISE_DATABASE_URL: url, STEPWISE_EXECUTOR_ID: `bench-worker-${i}` },
          stdio: ["ignore", "pipe", "inherit"],
        });
        workers.push(child);
        await new Promise<void>((resolve) => child.stdout!.on("data", (d) => String(d).includes("ready") && resolve()));
      }
    }
    const throughput: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const started = performance.now();
      const handles = [];
      for (let i = 0; i < QUEUED; i++) handles.push(await Stepwise.startWorkflow(queued, { queue: benchQueue })(i));
      await Promise.all(handles.map((h) => h.getResult()));
      throughput.push(QUEUED / ((performance.now() - started) / 1000));
    }

    for (const w of workers.splice(0)) w.kill("SIGTERM");
    const dbos = url ? await measureDbos(url) : undefined;

    console.log(`Messaging on ${url ? "Postgres" : "embedded PGlite"}, ${os.cpus().length} cores, median of ${REPS}`);
    console.log("");
    if (dbos) {
      console.log("| workload | Stepwise | DBOS Transact | Stepwise / DBOS |");
      console.log("| --- | --- | --- | --- |");
      console.log(
        `| send/recv round trip between two workflows | ${range(roundTrips, 2)} ms | ${range(dbos.roundTrips, 2)} ms | ` +
          `${(median(roundTrips) / median(dbos.roundTrips)).toFixed(2)}x |`,
      );
      console.log(
        `| queue: ${QUEUED} one-step workflows, 3 worker processes | ${range(throughput, 0)} workflows/s | ` +
          `${range(dbos.throughput, 0)} workflows/s | ${(median(throughput) / median(dbos.throughput)).toFixed(2)}x |`,
      );
    } else {
      console.log("| workload | Stepwise |");
      console.log("| --- | --- |");
      console.log(`| send/recv round trip between two workflows | ${range(roundTrips, 2)} ms |`);
      console.log(`| queue: ${QUEUED} one-step workflows, 1 process | ${range(throughput, 0)} workflows/s |`);
      console.log("\nDBOS Transact needs a Postgres server: set STEPWISE_BENCH_DATABASE_URL to compare.");
    }
  } finally {
    for (const w of workers) w.kill("SIGTERM");
    await Stepwise.shutdown();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The same workloads on DBOS Transact, in a child process on a fresh database of its own. */
async function measureDbos(url: string): Promise<{ roundTrips: number[]; throughput: number[] }> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const database = `stepwise_bench_dbos_msg_${process.pid}`;
  await admin.query(`CREATE DATABASE ${database}`);
  const dbosUrl = new URL(url);
  dbosUrl.pathname = `/${database}`;
  try {
    const script = fileURLToPath(new URL("./messaging-dbos.js", import.meta.url));
    const child = spawn(process.execPath, [script, "main", dbosUrl.toString(), String(REPS)], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    if (code !== 0) throw new Error(`the DBOS run failed (exit ${code})`);
    return JSON.parse(out.trim().split("\n").at(-1)!);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
