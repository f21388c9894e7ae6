/**
 * Wake-ups for code that waits on the database (recv, getEvent, sleep, queue
 * dispatch). Writers send a NOTIFY with a short key; every process listening on the
 * system database wakes the waiters on that key, which then re-check the database.
 * A notification can be lost (a dropped connection), so a waiter also re-checks on
 * its own every few seconds: nothing waits forever, and nothing polls in a tight loop.
 */
import type { SqlDriver } from "./sysdb/driver.js";
import { CANCEL_CHANNEL, QUEUE_CHANNEL, WAKE_CHANNEL } from "./sysdb/system-database.js";

/** How long a waiter sleeps before re-checking the database when no notification came. */
export const FALLBACK_CHECK_MS = 2000;

export interface Watch {
  /** Resolves on a wake-up for the key, at `untilEpochMs`, or at the fallback check, whichever is first. */
  wait(untilEpochMs: number): Promise<void>;
  close(): void;
}

export class Notifier {
  private readonly waiters = new Map<string, Set<() => void>>();
  onCancel: (key: string) => void = () => {};
  /** Told the key (queueKey) of a queue that has work or a free slot. */
  onQueue: (queueKey: string) => void = () => {};

  async listen(driver: SqlDriver): Promise<void> {
    await driver.listen(WAKE_CHANNEL, (key) => this.wake(key));
    await driver.listen(CANCEL_CHANNEL, (key) => {
      this.onCancel(key);
      this.wake(key);
    });
    await driver.listen(QUEUE_CHANNEL, (key) => this.onQueue(key));
  }

  /** Registers interest in a key: call before checking the database, so a wake-up in between is not missed. */
  watch(...keys: string[]): Watch {
    let woken = false;
    let resolveWait: (() => void) | undefined;
    const wake = () => {
      woken = true;
      resolveWait?.();
    };
    for (const key of keys) {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      set.add(wake);
    }
    return {
      wait: (untilEpochMs) =>
        new Promise<void>((resolve) => {
          if (woken) return resolve();
          const timer = setTimeout(resolve, Math.max(0, Math.min(untilEpochMs - Date.now(), FALLBACK_CHECK_MS)));
          resolveWait = () => {
            clearTimeout(timer);
            resolve();
          };
        }),
      close: () => {
        for (const key of keys) {
          const set = this.waiters.get(key);
          set?.delete(wake);
          if (set?.size === 0) this.waiters.delete(key);
        }
      },
    };
  }

  wake(key: string): void {
    for (const wake of this.waiters.get(key) ?? []) wake();
  }
}
