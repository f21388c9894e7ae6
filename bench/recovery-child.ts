/**
 * The recovery benchmark's processes (spawned by bench/run.ts). Argument: a JSON object
 * { target, where, phase, workflows, steps }.
 *
 * - phase "setup": starts `workflows` workflows of `steps` steps that stop for good
 *   halfway (BENCH_HANG=1), prints `HALFWAY` once every one of them has its first half
 *   checkpointed, and waits to be SIGKILLed.
 * - phase "recover": a fresh process; launches (which recovers), and prints `DONE {...}`
 *   once the database shows every workflow ended in SUCCESS, with the number of step
 *   bodies that ran here (a completed step must not run again).
 */
import { counters, loadTarget, type TargetName, type Where } from "./target.js";

interface Args {
  target: TargetName;
  where: Where;
  phase: "setup" | "recover";
  workflows: number;
  steps: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const target = await loadTarget(args.target);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (args.phase === "setup") {
  await target.launch(args.where);
  const batch = 500;
  for (let b = 0; b < args.workflows; b += batch) {
    const ids = Array.from({ length: Math.min(batch, args.workflows - b) }, (_, i) => `bench-recovery-${b + i}`);
    await Promise.all(ids.map((id) => target.startRecoverable(id, args.steps)));
  }
  // A workflow passes its halfway point only after the steps before it are checkpointed.
  while (counters.halfway < args.workflows) await sleep(20);
  process.stdout.write("HALFWAY\n");
  await new Promise(() => {});
} else {
  const launchStarted = performance.now();
  await target.launch(args.where);
  const launchedMs = performance.now() - launchStarted;
  while (counters.finished < args.workflows) await sleep(10);
  // The bodies have returned; wait until the database records every run as ended.
  while ((await target.unfinished()) > 0) await sleep(10);
  const doneMs = performance.now() - launchStarted;
  process.stdout.write(`DONE ${JSON.stringify({ launchedMs, doneMs, stepRuns: counters.stepRuns, finished: counters.finished })}\n`);
  await target.shutdown();
  process.exit(0);
}
