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
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
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

    console.log(`Stepwise messaging on ${url ? "Postgres" : "embedded PGlite"}, ${os.cpus().length} cores, median of ${REPS}`);
    console.log("");
    console.log("| workload | figure |");
    console.log("| --- | --- |");
    console.log(`| send/recv round trip between two workflows | ${range(roundTrips, 2)} ms |`);
    console.log(`| queue: ${QUEUED} one-step workflows, ${url ? "3 worker processes" : "1 process"} | ${range(throughput, 0)} workflows/s |`);
  } finally {
    for (const w of workers) w.kill("SIGTERM");
    await Stepwise.shutdown();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
