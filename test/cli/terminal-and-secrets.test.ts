/**
 * What the CLI and the runtime print about a database never shows a secret, and what
 * the CLI prints from the database cannot drive the operator's terminal.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DatabaseConnectionError, Stepwise, step, workflow } from "stepwise";
import { tempDir } from "../helpers/databases.js";

const cli = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));
const dir = tempDir("stepwise-cli-terminal-");
const SECRET = "Hunter2Secret";

function stepwise(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ["--import", "tsx", cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, STEPWISE_DATABASE_URL: "", ...env },
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

// An error text a hostile input could produce: clear the screen, retitle the window, a C1 CSI.
const HOSTILE = "boom\u001b[2J\u001b]0;pwned\u0007\u009b31m\r";
const fails = step(async () => {
  throw new Error(HOSTILE);
}, { name: "terminal.fails" });
const hostile = workflow(async () => fails(), { name: "terminal.hostile\u001b[1m" });

describe("the CLI escapes control characters", () => {
  beforeAll(async () => {
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
    await (await Stepwise.startWorkflow(hostile, { workflowID: "evil\u001b[2J-1" })()).getResult().catch(() => {});
    await Stepwise.shutdown();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("in tables, details, JSON and errors", () => {
    const outputs = [
      stepwise(["--data-dir", dir, "workflows", "list"]),
      stepwise(["--data-dir", dir, "workflows", "list", "--json"]),
      stepwise(["--data-dir", dir, "workflows", "show", "evil\u001b[2J-1"]),
      stepwise(["--data-dir", dir, "workflows", "steps", "evil\u001b[2J-1"]),
      stepwise(["--data-dir", dir, "workflows", "cancel", "nope\u001b]0;x\u0007"]),
    ];
    for (const { out, err } of outputs) {
      expect(out + err).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/);
    }
    expect(outputs[0]!.out).toContain("evil\\x1b[2J-1");
    expect(outputs[2]!.out).toContain("\\x1b]0;pwned\\x07\\x9b31m");
    expect(outputs[4]!.err).toContain("nope\\x1b]0;x\\x07");
  }, 180_000);
});

describe("secrets in connection strings", () => {
  test("a connection string missing its // is refused without showing it", async () => {
    const error = await Stepwise.launch({ databaseUrl: `postgres:${SECRET}@127.0.0.1:5432/db`, logLevel: "silent" }).catch((e) => e);
    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error.message).toContain("not a postgres:// URL");
    expect(error.message).not.toContain(SECRET);
  });

  test("from the environment, the application's error does not show it either", () => {
    const { code, err } = stepwise(["workflows", "list"], { STEPWISE_DATABASE_URL: `postgres:${SECRET}@127.0.0.1:5432/db` });
    expect(code).toBe(1);
    expect(err).toContain("STEPWISE_DATABASE_URL");
    expect(err).not.toContain(SECRET);
  });

  test("--database-url with a password warns that ps shows it, and the error does not", () => {
    const { code, err } = stepwise(["--database-url", `postgres://app:${SECRET}@127.0.0.1:1/orders`, "workflows", "list"]);
    expect(code).toBe(1);
    expect(err).toContain("warning: --database-url carries a password");
    expect(err).toContain("STEPWISE_DATABASE_URL");
    expect(err.split(SECRET)).toHaveLength(1);
  });
});
