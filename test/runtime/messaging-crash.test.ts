/**
 * Recovery in the middle of sleep, recv and getEvent under real crashes: the worker is
 * SIGKILLed while its workflows wait, restarted, and finishes with every message
 * delivered once and sleeps that do not start over.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { databases, tempDir } from "../helpers/databases.js";

const worker = fileURLToPath(new URL("./fixtures/messaging-worker.ts", import.meta.url));

const readLog = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

async function until(file: string, child: ChildProcess, predicate: (lines: string[]) => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!predicate(readLog(file))) {
    if (child.exitCode !== null) throw new Error(`worker exited early with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("the worker never got there");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function kill(child: ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
}

describe.each(databases)("SIGKILL while workflows wait, on $name", (database) => {
  test("sleep, recv and getEvent resume after a crash; nothing is delivered twice", async () => {
    const db = await database.create();
    const dir = tempDir("stepwise-msgcrash-");
    const logFile = path.join(dir, "log");
    const env: Record<string, string> = { ...(process.env as Record<string, string>), CRASH_LOG: logFile };
    if (db.databaseUrl) env.STEPWISE_DATABASE_URL = db.databaseUrl;
    else env.STEPWISE_DATA_DIR = db.dataDir!;
    const start = () => spawn(process.execPath, ["--import", "tsx", worker], { env, stdio: ["ignore", "ignore", "inherit"] });
    try {
      // 1. Killed while both workflows sleep.
      let child = start();
      await until(logFile, child, (lines) => lines.includes("A"));
      await new Promise((r) => setTimeout(r, 300));
      await kill(child);

      // 2. Killed right after the publisher began sending, while the waiter waits in recv.
      child = start();
      await until(logFile, child, (lines) => lines.includes("P sending"));
      await new Promise((r) => setTimeout(r, 30));
      await kill(child);

      // 3. Runs to the end.
      child = start();
      await until(logFile, child, (lines) => lines.some((l) => l.startsWith("result ")));
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
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await db.cleanup();
    }
  }, 120_000);
});
