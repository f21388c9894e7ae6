/**
 * One repetition of the timed workloads for one target, in a process of its own
 * (spawned by bench/run.ts). Arguments: a JSON object { target, where, mode, sizes }.
 *
 * - mode "time": warm up, then time the sequential, per-workflow and concurrent
 *   workloads; prints `RESULT {...}`.
 * - mode "count": the statement-counting windows, run through the counting proxy; the
 *   parent snapshots the proxy's counters at each mark (IPC, acknowledged).
 */
import { loadTarget, type TargetName, type Where } from "./target.js";

export interface Sizes {
  sequentialSteps: number;
  oneStepWorkflows: number;
  concurrentWorkflows: number;
  stepsPerWorkflow: number;
}

export interface TimeResult {
  /** ms per step, one workflow of sizes.sequentialSteps steps. */
  perStepMs: number;
  /** ms per one-step workflow, sizes.oneStepWorkflows of them one after another. */
  perWorkflowMs: number;
  /** Wall time of concurrentWorkflows x stepsPerWorkflow, ms. */
  concurrentMs: number;
}

interface Args {
  target: TargetName;
  where: Where;
  mode: "time" | "count";
  sizes: Sizes;
}

const args = JSON.parse(process.argv[2]!) as Args;
const target = await loadTarget(args.target);

function mark(label: string): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (m === `ack:${label}`) {
        process.off("message", onMessage);
        resolve();
      }
    };
    process.on("message", onMessage);
    process.send!(`mark:${label}`);
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const { sizes } = args;
await target.launch(args.where);
try {
  if (args.mode === "time") {
    // Warm up: connections, prepared statements, JIT.
    await target.sequential(50);
    for (let i = 0; i < 20; i++) await target.oneStep(i);
    await Promise.all(Array.from({ length: 20 }, () => target.small(sizes.stepsPerWorkflow)));

    const sequentialMs = await timed(() => target.sequential(sizes.sequentialSteps));
    const oneStepMs = await timed(async () => {
      for (let i = 0; i < sizes.oneStepWorkflows; i++) await target.oneStep(i);
    });
    const concurrentMs = await timed(() =>
      Promise.all(Array.from({ length: sizes.concurrentWorkflows }, () => target.small(sizes.stepsPerWorkflow))),
    );
    const result: TimeResult = {
      perStepMs: sequentialMs / sizes.sequentialSteps,
      perWorkflowMs: oneStepMs / sizes.oneStepWorkflows,
      concurrentMs,
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } else {
    await target.sequential(5);
    await target.oneStep(0);
    // Zero-step workflows: what starting and finishing a workflow sends.
    await mark("empty-start");
    for (let i = 0; i < 100; i++) await target.sequential(0);
    await mark("empty-end");
    // One workflow of many steps: what a step sends.
    await mark("steps-start");
    await target.sequential(1000);
    await mark("steps-end");
  }
} finally {
  await target.shutdown();
}
process.exit(0);
