/**
 * One benchmarked system behind one small interface, so every workload is written once
 * and runs the same way against Stepwise, DBOS Transact and the raw INSERT floor.
 * Each target lives in its own module and is loaded by name in a child process of its
 * own: no library's background work (pollers, listeners) runs while another is timed.
 */

export type TargetName = "floor" | "stepwise" | "dbos";

export interface Where {
  /** A Postgres database of this target's own; absent: the embedded PGlite database. */
  url?: string;
  /** PGlite folder when `url` is absent. */
  dataDir?: string;
}

export interface Target {
  readonly name: TargetName;
  launch(where: Where): Promise<void>;
  /** One workflow of `n` sequential steps, to completion (floor: n INSERTs). */
  sequential(n: number): Promise<void>;
  /** One workflow of one step, to completion (floor: 3 INSERTs, start, output, end). */
  oneStep(i: number): Promise<void>;
  /** A workflow of `n` steps (floor: n INSERTs), used 200 at a time. */
  small(n: number): Promise<void>;
  /** Starts the recovery workflow (10 steps) under `id` without waiting for it. */
  startRecoverable(id: string, steps: number): Promise<void>;
  /** Workflows of the recovery benchmark not yet ended in SUCCESS, counted in the database. */
  unfinished(): Promise<number>;
  shutdown(): Promise<void>;
}

/** Counters the workflow bodies bump, for the recovery benchmark's checks. */
export const counters = {
  /** Step bodies executed in this process. */
  stepRuns: 0,
  /** Recovery workflows that passed their halfway point in this process. */
  halfway: 0,
  /** Recovery workflows whose body returned in this process. */
  finished: 0,
};

/** In a setup process (BENCH_HANG=1), a recovery workflow stops for good halfway. */
export async function maybeHang(i: number, steps: number): Promise<void> {
  if (i === steps / 2) {
    counters.halfway++;
    if (process.env.BENCH_HANG === "1") await new Promise(() => {});
  }
}

export async function loadTarget(name: TargetName): Promise<Target> {
  switch (name) {
    case "floor":
      return (await import("./target-floor.js")).target;
    case "stepwise":
      return (await import("./target-stepwise.js")).target;
    case "dbos":
      return (await import("./target-dbos.js")).target;
  }
}
