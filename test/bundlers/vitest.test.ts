/**
 * A user's vitest project: `plugins: [stepwise()]` from stepwise/vite in vitest.config.ts
 * makes the tagged workflow of the order service durable inside the user's tests (a run
 * with checkpointed steps under the compile-time IDs). The same project without the plugin
 * fails its test, which is what made the tags silently inert under vitest before.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundlerProject, REPO, sh } from "./harness.js";

let dir: string;

const USER_TEST = `
import { afterAll, beforeAll, expect, it } from "vitest";
import { Stepwise } from "stepwise";
import { checkout } from "../src/orders.js";

beforeAll(() => Stepwise.launch({ dataDir: "memory://" }));
afterAll(() => Stepwise.shutdown());

it("checkout runs durably", async () => {
  const handle = await Stepwise.startWorkflow(checkout, { workflowID: "t-1" })("o1");
  expect(await handle.getResult()).toEqual({ reservation: "res-o1", charge: "ch-o1", receipt: "sent-o1" });
  const steps = await Stepwise.listWorkflowSteps("t-1");
  expect(steps.map((s) => s.stepID)).toEqual(["reserve", "Payments.charge", "hold", "notify"]);
});
`;

function config(withPlugin: boolean): string {
  return `import { defineConfig } from "vitest/config";
${withPlugin ? `import stepwise from "stepwise/vite";\n` : ""}
export default defineConfig({
  ${withPlugin ? "plugins: [stepwise()]," : ""}
  // node_modules/stepwise is a symlink to this repo here: keep its node_modules path, so
  // vitest treats it as the installed package it is for a user (externalized, not inlined).
  resolve: { preserveSymlinks: true },
  test: { include: ["test/**/*.test.ts"], hookTimeout: 240_000, testTimeout: 120_000 },
});
`;
}

/** `vitest run` in the user's project, in a clean environment (not this vitest's worker). */
function userVitest(): { status: number | null; output: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^VITEST|^TEST$|^NODE_OPTIONS$/.test(k)) env[k] = v;
  const r = sh(process.execPath, [join(REPO, "node_modules/vitest/vitest.mjs"), "run"], dir, { ...env, STEPWISE_LOG_LEVEL: "error" });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

beforeAll(() => {
  dir = bundlerProject("stepwise-vitest-");
  symlinkSync(join(REPO, "node_modules/vitest"), join(dir, "node_modules/vitest"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "user", private: true, type: "module" }));
  const orders = readFileSync(join(REPO, "test/transformer/e2e-project/src/orders.ts"), "utf8");
  sh("mkdir", ["-p", "src", "test"], dir);
  writeFileSync(join(dir, "src/orders.ts"), orders);
  writeFileSync(join(dir, "test/orders.test.ts"), USER_TEST);
});

afterAll(() => {
  if (dir && !process.env.KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

describe("vitest with stepwise/vite", () => {
  it("runs the user's test of a tagged workflow durably", () => {
    writeFileSync(join(dir, "vitest.config.ts"), config(true));
    const r = userVitest();
    expect(r.output).toMatch(/1 passed/);
    expect(r.status, r.output).toBe(0);
  }, 300_000);

  it("without the plugin, the same test fails: the workflow was never compiled in", () => {
    writeFileSync(join(dir, "vitest.config.ts"), config(false));
    const r = userVitest();
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/1 failed/);
  }, 300_000);
});
