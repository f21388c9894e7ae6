/**
 * Recovery in the middle of sleep, recv and getEvent under real crashes: the worker is
 * SIGKILLed while its workflows wait, restarted, and finishes with every message
 * delivered once and sleeps that do not start over.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { databases } from "../helpers/databases.js";
import { killWorker, readLog, untilLogged, withWorkerLog } from "../helpers/crash-worker.js";

const worker = fileURLToPath(new URL("./fixtures/messaging-worker.ts", import.meta.url));

describe.each(databases)("SIGKILL while workflows wait, on $name", (database) => {
  test("sleep, recv and getEvent resume after a crash; nothing is delivered twice", async () => {
    await withWorkerLog(database, async ({ logFile, start: startScript }) => {
      const start = () => startScript(worker);
      // 1. Killed while both workflows sleep.
      let child = start();
      await untilLogged(logFile, child, (lines) => lines.includes("A"));
      await new Promise((r) => setTimeout(r, 300));
      await killWorker(child);

      // 2. Killed right after the publisher began sending, while the waiter waits in recv.
      child = start();
      await untilLogged(logFile, child, (lines) => lines.includes("P sending"));
      await new Promise((r) => setTimeout(r, 30));
      await killWorker(child);

      // 3. Runs to the end.
      child = start();
      await untilLogged(logFile, child, (lines) => lines.some((l) => l.startsWith("result ")));
      await new Promise((resolve) => child.once("exit", resolve));

      const lines = readLog(logFile);
      expect(JSON.parse(lines.find((l) => l.startsWith("result "))!.slice(7))).toEqual([["one", "two", "yes"], "published"]);
      expect(lines.filter((l) => l === "A")).toHaveLength(1);
      expect(lines.filter((l) => l.startsWith("B "))).toEqual(["B one two yes"]);
      expect(lines.filter((l) => l === "P sending").length).toBeLessThanOrEqual(2);

      // The publisher's 5 s sleep was recorded before the first kill and not started over:
      // it went on sending soon after the recorded wake-up time, not 5 s after a restart.
      const steps = JSON.parse(lines.find((l) => l.startsWith("steps "))!.slice(6));
      const [sleepRecord, sending] = steps.publisher;
      expect(sleepRecord.stepID).toBe("Stepwise.sleep");
      expect(sending.stepID).toBe("mark");
      const wakeAt = sleepRecord.output as number;
      const launches = lines.filter((l) => l.startsWith("launched ")).map((l) => Number(l.slice(9)));
      expect(launches.length).toBe(3);
      expect(launches[1]!).toBeLessThan(wakeAt);
      expect(new Date(sending.startedAt).getTime() - wakeAt).toBeLessThan(1500);

      // The waiter's operations: deadline and outcome of each wait, recorded once each.
      expect(steps.waiter.map((s: { stepID: string }) => s.stepID)).toEqual([
        "mark",
        "Stepwise.sleep",
        "Stepwise.sleep",
        "Stepwise.recv",
        "Stepwise.sleep",
        "Stepwise.recv",
        "Stepwise.sleep",
        "Stepwise.getEvent",
        "mark",
      ]);
    });
  }, 120_000);
});
