/**
 * Durability under real crashes: a child process running a 20-step workflow is killed
 * with SIGKILL before, during and between steps, and a fresh process finishes the run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { databases, tempDir } from "../helpers/databases.js";
import { readLog } from "../helpers/crash-worker.js";

const worker = fileURLToPath(new URL("./fixtures/crash-worker.ts", import.meta.url));
const STEPS = 20;

function startWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", worker], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/** Waits until the log's lines satisfy `until`, then SIGKILLs the worker; returns the log's last line at the kill. */
async function killWhen(child: ChildProcess, file: string, until: (lines: string[]) => boolean): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const lines = readLog(file);
    if (until(lines)) {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
      return readLog(file).at(-1)!;
    }
    if (child.exitCode !== null) throw new Error(`worker exited early with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error("kill point never reached");
}

async function runToEnd(child: ChildProcess): Promise<void> {
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`worker failed (${code}): ${stderr}`);
}

describe.each(databases)("SIGKILL mid-workflow on $name", (database) => {
  test("a fresh process finishes the run; each checkpointed step ran exactly once", async () => {
    const db = await database.create();
    const dir = tempDir("stepwise-crash-");
    const logFile = path.join(dir, "side-effects.log");
    const env: Record<string, string> = { CRASH_LOG: logFile };
    if (db.databaseUrl) env.STEPWISE_DATABASE_URL = db.databaseUrl;
    else env.STEPWISE_DATA_DIR = db.dataDir!;
    try {
      const lastDone = (lines: string[]) => lines.filter((l) => l.startsWith("done ")).length;
      const killPoints: ((lines: string[]) => boolean)[] = [
        // Before any step: right after launch.
        (lines) => lines.some((l) => l.startsWith("launched")),
        // During a step: its side effect began, it has not returned.
        (lines) => lines.includes("begin 3"),
        // Between steps: a step returned, its checkpoint may or may not be written.
        (lines) => lines.includes("done 9"),
        // During a later step, after several restarts.
        (lines) => lines.includes("begin 14"),
        // After the last step, before the workflow's end is recorded (the worker holds there).
        (lines) => lines.includes(`done ${STEPS - 1}`) && !lines.some((l) => l.startsWith("result")),
      ];
      const inFlight = new Set<number>();
      for (const [n, point] of killPoints.entries()) {
        const before = readLog(logFile).length;
        const extra = n === killPoints.length - 1 ? { CRASH_PAUSE_AFTER_LAST_MS: "3000" } : {};
        const last = await killWhen(startWorker({ ...env, ...extra }), logFile, (lines) => lines.length > before && point(lines.slice(before)));
        const match = /^(?:begin|done) (\d+)$/.exec(last);
        if (match) inFlight.add(Number(match[1]));
      }
      expect(lastDone(readLog(logFile))).toBeGreaterThanOrEqual(STEPS - 1);
      await runToEnd(startWorker(env));

      const lines = readLog(logFile);
      const squares = Array.from({ length: STEPS }, (_, i) => i * i).reduce((a, b) => a + b, 0);
      expect(lines.at(-1)).toBe(`result ${squares}`);
      for (let i = 0; i < STEPS; i++) {
        const times = lines.filter((l) => l === `done ${i}`).length;
        // Only a step in flight at a kill may have run twice.
        if (inFlight.has(i)) expect(times, `step ${i}`).toBeGreaterThanOrEqual(1);
        else expect(times, `step ${i}`).toBe(1);
        expect(times, `step ${i}`).toBeLessThanOrEqual(2);
      }
      expect(lines.filter((l) => l.startsWith("result")).length).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await db.cleanup();
    }
  }, 180_000);
});
