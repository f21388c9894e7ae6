/**
 * For the end-to-end projects whose `hold` step waits forever when SW_HOLD=1: starts a
 * workflow under `entry`, waits until the step holds, then SIGKILLs the process.
 */
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";

/** `command`: the node binary and its flags (another Node, `--import stepwise/register`, tsx). */
export async function startAndKill(dir: string, entry: string, workflowID: string, command: string[] = [process.execPath]): Promise<void> {
  rmSync(join(dir, "held"), { force: true });
  const child = spawn(command[0]!, [...command.slice(1), entry, "start", workflowID], { cwd: dir, env: { ...process.env, SW_HOLD: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<NodeJS.Signals | number | null>((res) => child.on("exit", (code, signal) => res(signal ?? code)));
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(dir, "held"))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker never reached the hold step:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  expect(await exited).toBe("SIGKILL");
}
