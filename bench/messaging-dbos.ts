/**
 * The messaging workloads of bench/messaging.ts on DBOS Transact (@dbos-inc/dbos-sdk, a
 * devDependency used only by the benchmarks), for the same-run comparison. Run by
 * bench/messaging.ts as a child process: `node messaging-dbos.js main <url> <reps>`
 * prints one JSON line of figures; `... worker <url>` is a queue worker.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DBOS } from "@dbos-inc/dbos-sdk";

const [mode, url, repsText] = process.argv.slice(2) as [string, string, string];
const ROUNDS = 200;
const QUEUED = 1000;
const QUEUE = "bench_queue";

const noop = DBOS.registerStep(async (i: number) => i, { name: "bench.noop" });
const queued = DBOS.registerWorkflow(async (i: number) => noop(i), { name: "bench.queued" });
const echo = DBOS.registerWorkflow(
  async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      const message = await DBOS.recv<{ from: string; n: number }>("ping", 30);
      await DBOS.send(message!.from, message!.n, "pong");
    }
  },
  { name: "bench.echo" },
);
const pinger = DBOS.registerWorkflow(
  async (echoID: string, rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      await DBOS.send(echoID, { from: DBOS.workflowID!, n: i }, "ping");
      await DBOS.recv<number>("pong", 30);
    }
  },
  { name: "bench.pinger" },
);

DBOS.setConfig({
  name: "stepwise-bench-messaging",
  systemDatabaseUrl: url,
  logLevel: "error",
  applicationVersion: "bench",
  // The main process only enqueues: the three workers dequeue, as in Stepwise's run.
  ...(mode === "main" ? { listenQueues: [] } : {}),
} as Parameters<typeof DBOS.setConfig>[0]);
await DBOS.launch();
await DBOS.registerQueue(QUEUE, { globalConcurrency: 60 });

if (mode === "worker") {
  process.stdout.write("ready\n");
} else {
  const reps = Number(repsText);
  const roundTrips: number[] = [];
  for (let r = 0; r < reps; r++) {
    const echoID = `bench-echo-${Date.now()}-${r}`;
    const echoHandle = await DBOS.startWorkflow(echo, { workflowID: echoID })(ROUNDS);
    const started = performance.now();
    await (await DBOS.startWorkflow(pinger)(echoID, ROUNDS)).getResult();
    roundTrips.push((performance.now() - started) / ROUNDS);
    await echoHandle.getResult();
  }
  const workers: ChildProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "worker", url], {
      env: { ...process.env, DBOS__VMID: `bench-worker-${i}` },
      stdio: ["ignore", "pipe", "inherit"],
    });
    workers.push(child);
    await new Promise<void>((resolve) => child.stdout!.on("data", (d) => String(d).includes("ready") && resolve()));
  }
  const throughput: number[] = [];
  try {
    for (let r = 0; r < reps; r++) {
      const started = performance.now();
      const handles = [];
      for (let i = 0; i < QUEUED; i++) handles.push(await DBOS.startWorkflow(queued, { queueName: QUEUE })(i));
      await Promise.all(handles.map((h) => h.getResult()));
      throughput.push(QUEUED / ((performance.now() - started) / 1000));
    }
  } finally {
    for (const w of workers) w.kill("SIGTERM");
  }
  process.stdout.write(`${JSON.stringify({ roundTrips, throughput })}\n`);
  await DBOS.shutdown();
  process.exit(0);
}
