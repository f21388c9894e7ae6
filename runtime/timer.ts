/**
 * A timer for an instant that may be far off (a deadline, a schedule's next tick):
 * setTimeout caps a delay at about 24.8 days, so a later instant is reached in several
 * waits. Unref'd: a pending timer does not keep the process alive.
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
