/**
 * A workflow timeout survives a crash: the worker is SIGKILLed while a run with a
 * timeout waits in its child, restarted at once, and the run (child included) is still
 * cancelled at its first deadline, not one counted again from the restart.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { databases } from "../helpers/databases.js";
import { killWorker, readLog, untilLogged, withWorkerLog } from "../helpers/crash-worker.js";

const worker = fileURLToPath(new URL("./fixtures/timeout-worker.ts", import.meta.url));
const TIMEOUT_MS = 3000;

describe.each(databases)("SIGKILL while a run with a timeout waits, on $name", (database) => {
  test("after a restart the run and its child are cancelled at the first deadline", async () => {
    await withWorkerLog(database, async ({ logFile, start: startScript }) => {
      const start = () => startScript(worker, { TIMEOUT_MS: String(TIMEOUT_MS) });
      let child = start();
      await untilLogged(logFile, child, (lines) => lines.includes("C1"));
      // Past C1's checkpoint: the child waits in its sleep when the kill comes.
      await new Promise((r) => setTimeout(r, 300));
      await killWorker(child);

      child = start();
      await untilLogged(logFile, child, (lines) => lines.some((l) => l.startsWith("status ")));
      await new Promise((resolve) => child.once("exit", resolve));

      const lines = readLog(logFile);
      const [outcome, at] = lines.find((l) => l.startsWith("outcome "))!.slice(8).split(" ");
      expect(outcome).toBe("WorkflowTimeoutError");
      expect(lines).toContain("child WorkflowTimeoutError");
      const { parent, child: childRun } = JSON.parse(lines.find((l) => l.startsWith("status "))!.slice(7));
      expect(parent.status).toBe("CANCELLED");
      expect(childRun.status).toBe("CANCELLED");
      expect(childRun.deadline).toBe(parent.deadline);
      const deadline = new Date(parent.deadline).getTime();
      const launches = lines.filter((l) => l.startsWith("launched ")).map((l) => Number(l.slice(9)));
      expect(launches).toHaveLength(2);
      // The deadline was set by the first process and kept: the restart did not start a new timeout.
      expect(deadline).toBeLessThan(launches[0]! + TIMEOUT_MS + 1000);
      expect(Number(at)).toBeGreaterThanOrEqual(deadline);
      expect(Number(at)).toBeLessThan(launches[1]! + TIMEOUT_MS);
      // Each step ran once, and nothing after the deadline ran.
      expect(lines.filter((l) => l === "A")).toHaveLength(1);
      expect(lines.filter((l) => l === "C1")).toHaveLength(1);
      expect(lines).not.toContain("C2");
      expect(lines).not.toContain("B");
    });
  }, 60_000);
});
