/**
 * The embedded database's lock: the kernel ends it with its holder, so a restart in a
 * container (always PID 1) and a stale lock whose PID is now another process's both open.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { DatabaseConnectionError, Stepwise, step, workflow } from "stepwise";
import { openPGlite } from "../../runtime/sysdb/pglite.js";
import { tempDir } from "../helpers/databases.js";
import { readLog } from "../helpers/crash-worker.js";

const worker = fileURLToPath(new URL("./fixtures/crash-worker.ts", import.meta.url));

const double = step(async (n: number) => n * 2, { name: "double" });
const doubled = workflow(async (n: number) => double(n), { name: "doubled" });

const dirs: string[] = [];
afterEach(async () => {
  await Stepwise.shutdown();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** The crash worker as PID 1 of a new PID namespace, as node is in a container. */
function startAsPid1(dataDir: string, logFile: string): ChildProcess {
  return spawn("unshare", ["--pid", "--fork", "--mount-proc", process.execPath, "--import", "tsx", worker], {
    env: { ...process.env, STEPWISE_DATA_DIR: dataDir, STEPWISE_DATABASE_URL: "", CRASH_LOG: logFile },
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/** The PID (as this namespace sees it) of the process unshare forked. */
function forkedChild(unshare: ChildProcess): number {
  const children = fs.readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, "utf8").trim();
  return Number(children.split(" ")[0]);
}

async function until(predicate: () => boolean, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!predicate()) {
    if (child.exitCode !== null) throw new Error(`worker exited early (${child.exitCode}) before ${what}`);
    if (Date.now() > deadline) throw new Error(`never got to ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("the embedded database's lock", () => {
  test("a process restarted as PID 1 in a container reopens the database after a SIGKILL", async () => {
    expect(process.getuid?.(), "unshare --pid needs root").toBe(0);
    const dir = tempDir("stepwise-pid1-");
    dirs.push(dir);
    const dataDir = path.join(dir, "data");
    const logFile = path.join(dir, "log");

    const first = startAsPid1(dataDir, logFile);
    let stderr = "";
    first.stderr!.on("data", (d) => (stderr += d));
    await until(() => readLog(logFile).includes("done 2"), first, "step 2");
    expect(readLog(logFile)).toContain("launched 1"); // it really ran as PID 1
    const pid1 = forkedChild(first);
    process.kill(pid1, "SIGKILL");
    await new Promise((resolve) => (first.exitCode === null ? first.once("exit", resolve) : resolve(null)));

    // The restart is PID 1 again, the PID written in the lock left behind.
    const second = startAsPid1(dataDir, logFile);
    second.stderr!.on("data", (d) => (stderr += d));
    const code = await new Promise((resolve) => second.once("exit", resolve));
    expect(stderr).not.toContain("already open in this process");
    expect(code).toBe(0);
    expect(readLog(logFile).filter((l) => l.startsWith("result"))).toEqual([`result ${[...Array(20).keys()].reduce((a, i) => a + i * i, 0)}`]);
  }, 180_000);

  test("a stale lock naming a PID that now belongs to an unrelated live process does not block", async () => {
    const dir = tempDir();
    dirs.push(dir);
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
    expect(await doubled(1)).toBe(2);
    await Stepwise.shutdown();
    const unrelated = spawn("sleep", ["30"]);
    try {
      // What a process killed long ago left, its PID since reused.
      fs.writeFileSync(path.join(dir, "stepwise.lock"), String(unrelated.pid));
      await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
      expect(await doubled(2)).toBe(4);
    } finally {
      unrelated.kill("SIGKILL");
    }
  });

  test("a second open in the same process is refused, and the first keeps working", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = await openPGlite(dir);
    try {
      const error = await openPGlite(dir).catch((e) => e);
      expect(error).toBeInstanceOf(DatabaseConnectionError);
      expect(error.message).toContain("already open in this process");
      expect((await first.query<{ one: number }>("SELECT 1 AS one")).rows[0]!.one).toBe(1);
    } finally {
      await first.close();
    }
    const again = await openPGlite(dir);
    await again.close();
  });
});

