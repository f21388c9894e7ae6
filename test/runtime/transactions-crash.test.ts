/**
 * Transactions under real crashes: a child process is SIGKILLed right after a
 * transaction commits (before its workflow moves on), or inside the transaction, and a
 * fresh process finishes the run. After a kill past the commit the transaction never
 * runs again; after a kill inside it, it was rolled back and runs again once. On the
 * embedded database and on Postgres, and on Postgres with a separate application
 * database (where the checkpoint is a second write, after the commit).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { databases, tempDir } from "../helpers/databases.js";
import { readLog } from "../helpers/crash-worker.js";

const worker = fileURLToPath(new URL("./fixtures/transaction-worker.ts", import.meta.url));
const postgres = databases.find((d) => d.name === "postgres");

function startWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", worker], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.once("exit", (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`transaction worker failed (${code}): ${stderr}\n`);
  });
  return child;
}


async function killWhen(child: ChildProcess, file: string, line: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (readLog(file).includes(line)) {
      child.kill("SIGKILL");
      if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once("exit", resolve));
      return;
    }
    if (child.exitCode !== null) throw new Error(`worker exited early with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`kill point '${line}' never reached`);
}

async function runToEnd(child: ChildProcess): Promise<void> {
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`worker exited with ${code}`);
}

interface Setup {
  name: string;
  /** The worker's env, and a cleanup. */
  create(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
}

const setups: Setup[] = databases.map((database) => ({
  name: `${database.name}, one database`,
  async create() {
    const db = await database.create();
    return {
      env: db.databaseUrl ? { STEPWISE_DATABASE_URL: db.databaseUrl } : { STEPWISE_DATA_DIR: db.dataDir! },
      cleanup: db.cleanup,
    };
  },
}));
if (postgres) {
  setups.push({
    name: "postgres, separate application database",
    async create() {
      const system = await postgres.create();
      const app = await postgres.create();
      return {
        env: { STEPWISE_DATABASE_URL: system.databaseUrl!, TX_APP_DATABASE_URL: app.databaseUrl! },
        async cleanup() {
          await system.cleanup();
          await app.cleanup();
        },
      };
    },
  });
}

describe.each(setups)("SIGKILL around a transaction on $name", (setup) => {
  for (const scenario of [
    { pause: "after-commit", killAt: "committed", txRuns: 1 },
    { pause: "inside", killAt: "inside", txRuns: 2 },
  ]) {
    const what =
      scenario.pause === "after-commit"
        ? "killed right after the commit: the transaction is not run again and the workflow finishes"
        : "killed inside the transaction: it is rolled back and run again once";
    test(what, async () => {
      const { env, cleanup } = await setup.create();
      const dir = tempDir("stepwise-tx-crash-");
      const logFile = path.join(dir, "worker.log");
      try {
        await killWhen(startWorker({ ...env, TX_LOG: logFile, TX_PAUSE: scenario.pause }), logFile, scenario.killAt);
        expect(readLog(logFile).filter((l) => l === "after")).toEqual([]);
        await runToEnd(startWorker({ ...env, TX_LOG: logFile, TX_PAUSE: "" }));

        const lines = readLog(logFile);
        expect(lines.filter((l) => l === "tx-begin").length).toBe(scenario.txRuns);
        expect(lines.filter((l) => l === "after").length).toBe(1);
        expect(lines).toContain("rows 1");
        expect(lines).toContain("checkpoints credit,notify");
        expect(lines.at(-1)).toBe(`result ["credited","notified"]`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        await cleanup();
      }
    }, 120_000);
  }
});
