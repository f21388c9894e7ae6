/**
 * The order service of the transformer's e2e project (tagged steps, a tagged static method,
 * an aliased marker) built by every toolchain, each with its real bundler and the plugin
 * from its public entry: esbuild, Vite, Rollup, webpack, Rspack and bun (Bun.build, and
 * bun's runtime plugin). Each writes the same manifest, and a run SIGKILLed mid-workflow
 * under one toolchain's build finishes under ANOTHER's with no completed step run again,
 * in a ring through all of them (so each build both starts and finishes a run, and the IDs
 * agree across toolchains).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAndKill } from "../helpers/hold-and-kill.js";
import { bundlerProject, mustSucceed, REPO, runBuild, sh, TOOLCHAINS, type Toolchain } from "./harness.js";
import { effectsIn, outputLine } from "../esbuild/harness.js";
import { E2E_PROJECT_SRC as PROJECT_SRC, EXPECTED_STEPS, RESULT } from "../helpers/e2e-project.js";

const entryOf = (tool: Toolchain) => `out/${tool}/main.mjs`;

let dir: string;

function node(entry: string, args: string[]): string {
  return mustSucceed(sh(process.execPath, ["--enable-source-maps", entry, ...args], dir), `node ${entry} ${args.join(" ")}`);
}

const line = outputLine;
const effects = () => effectsIn(dir);

beforeAll(() => {
  // The builds import this repo's runtime and plugins through node_modules/stepwise -> dist/,
  // which test/global-setup.ts builds (npm run build) before the suites run.
  dir = bundlerProject("stepwise-bundlers-e2e-", PROJECT_SRC);
}, 60_000);

afterAll(() => {
  if (dir && !process.env.KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

describe.each(TOOLCHAINS)("%s", (tool) => {
  it("builds the service with the plugin, with the compile-time IDs in the output", () => {
    const r = runBuild(dir, tool);
    expect(r.output).not.toMatch(/SW1\d{3}/);
    expect(r.ok, r.output).toBe(true);
    const code = readFileSync(join(dir, entryOf(tool)), "utf8");
    // Minifiers rename the helper and may requote strings; the IDs are fixed strings.
    for (const id of ["Payments.charge", "reserve", "notify", "checkout"]) expect(new RegExp(`["'\`]${id.replace(".", "\\.")}["'\`]`).test(code), id).toBe(true);
  }, 600_000);

  it("maps a stack trace from inside a step to the .ts line", () => {
    const src = readFileSync(join(dir, "src/orders.ts"), "utf8").split("\n");
    const lineNo = src.findIndex((l) => l.includes("EXPLODE_LINE")) + 1;
    const stack = line(node(entryOf(tool), ["trace"]), "STACK") as string;
    expect(stack).toContain("exploded inside a step");
    expect(stack.split("\n")[1]).toMatch(new RegExp(`src/orders\\.ts:${lineNo}:\\d+\\)?$`));
  }, 180_000);
});

describe("across toolchains", () => {
  // The embedded database is created once here (PGlite's initdb is slow on a loaded machine),
  // not inside the first start the ring SIGKILLs.
  beforeAll(() => {
    node(entryOf("esbuild"), ["steps", "none"]);
  }, 300_000);

  it("every toolchain writes the same manifest for the same sources", () => {
    const manifests = TOOLCHAINS.map((t) => readFileSync(join(dir, `out/${t}.manifest.json`), "utf8"));
    expect(JSON.parse(manifests[0]!).operations.map((o: { id: string }) => o.id)).toEqual(["Payments.charge", "checkout", "explode", "hold", "notify", "reserve"]);
    for (const m of manifests) expect(m).toBe(manifests[0]);
  });

  // A ring: each toolchain's build is killed mid-workflow and the next one's finishes the run.
  it.each(TOOLCHAINS.map((t, i) => [t, TOOLCHAINS[(i + 1) % TOOLCHAINS.length]!] as const))(
    "a run SIGKILLed under the %s build finishes under the %s build, no completed step run again",
    async (first, second) => {
      const id = `ring-${first}-${second}`;
      rmSync(join(dir, "effects.log"), { force: true });
      await startAndKill(dir, entryOf(first), id);
      expect(effects()).toEqual(["reserve", "charge", "hold"]);
      expect(line(node(entryOf(second), ["recover", id]), "RESULT")).toEqual(RESULT);
      // reserve and charge came from their checkpoints; hold (killed inside) ran again.
      expect(effects()).toEqual(["reserve", "charge", "hold", "hold", "notify"]);
      expect(line(node(entryOf(second), ["steps", id]), "STEPS")).toEqual(EXPECTED_STEPS);
    },
    300_000,
  );
});

describe("bun's runtime plugin (Bun.plugin in a preload)", () => {
  const BUN = join(REPO, "node_modules/.bin/bun");
  const bun = (args: string[]) => mustSucceed(sh(BUN, ["--preload", "./preload.ts", "src/main.ts", ...args], dir), `bun src/main.ts ${args.join(" ")}`);

  beforeAll(() => {
    writeFileSync(join(dir, "preload.ts"), `import stepwise from "stepwise/bun";\nBun.plugin(stepwise());\n`);
  });

  it("bun runs the TypeScript sources with the tags compiled in as they load", () => {
    expect(line(bun(["start", "bun-runtime"]), "RESULT")).toEqual(RESULT);
    expect(line(bun(["steps", "bun-runtime"]), "STEPS")).toEqual(EXPECTED_STEPS);
  }, 180_000);

  it("a run SIGKILLed under bun's runtime finishes under the Vite build (node)", async () => {
    const id = "ring-bun-runtime";
    rmSync(join(dir, "effects.log"), { force: true });
    rmSync(join(dir, "held"), { force: true });
    const child = spawn(BUN, ["--preload", "./preload.ts", "src/main.ts", "start", id], { cwd: dir, env: { ...process.env, SW_HOLD: "1" }, stdio: "ignore" });
    const exited = new Promise((res) => child.on("exit", (code, signal) => res(signal ?? code)));
    for (const deadline = Date.now() + 60_000; !existsSync(join(dir, "held")); await new Promise((r) => setTimeout(r, 50)))
      if (child.exitCode !== null || Date.now() > deadline) throw new Error("bun never reached the hold step");
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    expect(effects()).toEqual(["reserve", "charge", "hold"]);
    expect(line(node(entryOf("vite"), ["recover", id]), "RESULT")).toEqual(RESULT);
    expect(effects()).toEqual(["reserve", "charge", "hold", "hold", "notify"]);
  }, 300_000);
});
