/**
 * The crash tests' worker processes: started on a test database, they append a line per
 * event to a log file, which the tests read to know when to kill and what ran how often.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { tempDir, type TestDatabase } from "./databases.js";

/** What starts the worker script (run with tsx) on this database, with CRASH_LOG and `env` set; stderr is shown. */
export function workerStarter(
  script: string,
  db: { databaseUrl?: string; dataDir?: string },
  env: Record<string, string>,
): () => ChildProcess {
  const all: Record<string, string> = { ...(process.env as Record<string, string>), ...env };
  if (db.databaseUrl) all.STEPWISE_DATABASE_URL = db.databaseUrl;
  else all.STEPWISE_DATA_DIR = db.dataDir!;
  return () => spawn(process.execPath, ["--import", "tsx", script], { env: all, stdio: ["ignore", "ignore", "inherit"] });
}

export const readLog = (file: string): string[] => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

/** Waits until the log's lines satisfy `predicate`; fails if the worker exits first or a minute passes. */
export async function untilLogged(file: string, child: ChildProcess, predicate: (lines: string[]) => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!predicate(readLog(file))) {
    if (child.exitCode !== null) throw new Error(`worker exited early with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("the worker never got there");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** SIGKILLs the worker and waits until it is gone. */
export async function killWorker(child: ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once("exit", resolve));
}

/**
 * A fresh database of this kind and a log file for worker processes, given to `body`;
 * both are removed after it. `start(script, env)` starts a worker on them (CRASH_LOG set).
 */
export async function withWorkerLog(
  database: TestDatabase,
  body: (it: {
    logFile: string;
    start: (script: string, env?: Record<string, string>) => ChildProcess;
    /** Launch options pointing at the database, for the test's own process. */
    db: { databaseUrl?: string; dataDir?: string };
  }) => Promise<void>,
): Promise<void> {
  const db = await database.create();
  const dir = tempDir("stepwise-worker-");
  const logFile = path.join(dir, "log");
  try {
    await body({
      logFile,
      start: (script, env = {}) => workerStarter(script, db, { CRASH_LOG: logFile, ...env })(),
      db: { databaseUrl: db.databaseUrl, dataDir: db.dataDir },
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await db.cleanup();
  }
}
