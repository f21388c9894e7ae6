/**
 * Durations past what a bare setTimeout can hold (2^31-1 ms, about 24.8 days: beyond it
 * Node fires at once), and durations that are not durations (NaN, Infinity, negative).
 * Fake timers reproduce Node's overflow, so a long wait is checked without waiting it.
 */
import { afterEach, describe, expect, test, vi } from "vitest";
import { ConfigError, Stepwise, StepTimeoutError, step } from "stepwise";

afterEach(() => {
  vi.useRealTimers();
});

describe("Stepwise.sleep", () => {
  test("sleeps 3e9 ms (past setTimeout's 32-bit limit) rather than returning at once", async () => {
    vi.useFakeTimers();
    let woke = false;
    const sleeping = Stepwise.sleep(3e9).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(3e9 - 2000);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    await sleeping;
    expect(woke).toBe(true);
  });

  test.each([NaN, Infinity, -1, -Infinity])("sleep(%s) is a ConfigError, not an instant return", async (ms) => {
    await expect(Stepwise.sleep(ms)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("a step's timeoutMS", () => {
  test("a timeout past 2^31-1 ms does not fire at once", async () => {
    vi.useFakeTimers();
    const slow = step(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      return "finished";
    }, { name: "durations.slowStep", timeoutMS: 3e9 });
    const result = slow();
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(result).resolves.toBe("finished");
  });

  test("the timeout still fires when it passes", async () => {
    vi.useFakeTimers();
    const stuck = step(() => new Promise<never>(() => {}), { name: "durations.stuckStep", timeoutMS: 50 });
    const result = stuck();
    const seen = expect(result).rejects.toBeInstanceOf(StepTimeoutError);
    await vi.advanceTimersByTimeAsync(50);
    await seen;
  });

  test("timeoutMS: Infinity is a ConfigError (leave it out for no timeout)", () => {
    expect(() => step(async () => 1, { name: "durations.infinite", timeoutMS: Infinity })).toThrow(ConfigError);
    expect(() => step(async () => 1, { name: "durations.infinite2", timeoutMS: Infinity })).toThrow(/finite number/);
  });
});
