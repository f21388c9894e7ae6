/**
 * The runtime's background timers, all unref'd (a pending one does not keep the process
 * alive): `at`, for an instant that may be far off (a deadline, a schedule's next tick;
 * setTimeout caps a delay at about 24.8 days, so a later instant is reached in several
 * waits), and `every`, for periodic work (heartbeats, retention).
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fn` at epoch ms `at` (at once if it has passed); returns what cancels it. */
export function at(epochMs: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const arm = () => {
    if (cancelled) return;
    const left = epochMs - Date.now();
    if (left <= 0) return fn();
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

/**
 * Resolves after `ms` milliseconds, however long: unlike a bare setTimeout, which fires at
 * once past 2^31-1 ms, it waits in several timers. Ref'd, like setTimeout: a script
 * awaiting it stays alive.
 */
export function delay(ms: number): Promise<void> {
  const until = Date.now() + ms;
  return new Promise<void>((resolve) => {
    const arm = () => {
      const left = until - Date.now();
      if (left <= 0) return resolve();
      setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    };
    arm();
  });
}

/**
 * Runs `pass` every `periodMs`, the first time after `firstDelayMs`, one pass at a time
 * (the next waits for the previous to end); unref'd. Returns what stops it, waiting
 * briefly for a pass in progress. `pass` reports its own failures.
 */
export function every(periodMs: number, firstDelayMs: number, pass: () => Promise<void>): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const next = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass()
        .catch(() => {})
        .finally(() => next(periodMs));
    }, delay);
    timer.unref();
  };
  next(firstDelayMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await briefly(running);
  };
}

/** How long a stop waits for background work in progress (a pass stuck retrying through a database outage must not hold shutdown). */
const STOP_GRACE_MS = 2000;

/** Waits for `work` to settle, at most STOP_GRACE_MS; work still going then fails when the database closes, and reports it. */
export async function briefly(work: Promise<unknown> | undefined): Promise<void> {
  if (!work) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => {}), new Promise((r) => (timer = setTimeout(r, STOP_GRACE_MS)))]);
  clearTimeout(timer);
}
