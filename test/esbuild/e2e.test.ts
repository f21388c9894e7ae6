/**
 * End to end with esbuild and the plugin: the transformer's e2e project (the same
 * sources tspc builds there) bundled and minified, as ESM and as CommonJS, and built
 * file by file without bundling. Each runs a workflow on the embedded database; the
 * minified bundle is SIGKILLed mid-workflow and a restart finishes the run with each
 * completed step run once; a run started by the tspc build finishes under the esbuild
 * bundle and the other way round (the step IDs are the same); a stack trace from a
 * minified step points at the .ts line.
 */
import * as esbuild from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stepwise } from "../../transformer/esbuild.js";
import { BIN, effectsIn, makeProject, mustSucceed, outputLine, REPO, sh, tempDir } from "./harness.js";
import { startAndKill } from "../helpers/hold-and-kill.js";
import { E2E_PROJECT_SRC as PROJECT_SRC, EXPECTED_STEPS, RESULT } from "../helpers/e2e-project.js";

// The database drivers load their own files (PGlite's wasm), so they stay packages.
const EXTERNAL = ["@electric-sql/pglite", "pg"];
// ESM bundles of CommonJS code need a require.
const ESM_REQUIRE = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

let dir: string;

function node(entry: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return mustSucceed(sh(process.execPath, ["--enable-source-maps", entry, ...args], dir, env), `node ${entry} ${args.join(" ")}`);
}

const line = outputLine;
const effects = () => effectsIn(dir);

/** SIGKILL mid-workflow under `entry`, finish under `recoverEntry`: completed steps are not run again. */
async function crashAndRecover(entry: string, recoverEntry = entry): Promise<void> {
  const id = `wf-${Math.random().toString(36).slice(2, 8)}`;
  rmSync(join(dir, "effects.log"), { force: true });
  await startAndKill(dir, entry, id);
  expect(effects()).toEqual(["reserve", "charge", "hold"]);
  expect(line(node(recoverEntry, ["recover", id]), "RESULT")).toEqual(RESULT);
  // reserve and charge were replayed from their checkpoints; hold (killed inside) ran again.
  expect(effects()).toEqual(["reserve", "charge", "hold", "hold", "notify"]);
  expect(line(node(recoverEntry, ["steps", id]), "STEPS")).toEqual(EXPECTED_STEPS);
}

async function bundle(outfile: string, format: "esm" | "cjs", extra: esbuild.BuildOptions = {}): Promise<void> {
  await esbuild.build({
    absWorkingDir: dir,
    entryPoints: ["src/main.ts"],
    bundle: true,
    minify: true,
    sourcemap: true,
    platform: "node",
    target: "node20",
    format,
    outfile,
    external: EXTERNAL,
    banner: format === "esm" ? { js: ESM_REQUIRE } : undefined,
    logLevel: "silent",
    plugins: [stepwise()],
    ...extra,
  });
}

beforeAll(async () => {
  // The bundles import this repo's runtime through node_modules/stepwise -> dist/, which
  // test/global-setup.ts builds (npm run build) before the suites run.
  dir = makeProject(tempDir("stepwise-esbuild-e2e-"), "module", PROJECT_SRC);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "dist", rootDir: "src",
        sourceMap: true, skipLibCheck: true, types: ["node"], plugins: [{ transform: "stepwise/transformer" }],
      },
      include: ["src"],
    }),
  );
  await bundle("out/main.min.mjs", "esm");
}, 240_000);

afterAll(() => {
  if (dir && !process.env.KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

describe("minified ESM bundle", () => {
  it("is minified, and carries the compile-time IDs", () => {
    const code = readFileSync(join(dir, "out/main.min.mjs"), "utf8");
    expect(code).not.toMatch(/function reserve\b/);
    expect(code).toContain(`"Payments.charge"`);
  });

  it("runs a workflow on the embedded database", () => {
    expect(line(node("out/main.min.mjs", ["start", "wf-plain"]), "RESULT")).toEqual(RESULT);
    expect(line(node("out/main.min.mjs", ["steps", "wf-plain"]), "STEPS")).toEqual(EXPECTED_STEPS);
  });

  it("finishes a SIGKILLed run after a restart, each completed step run once", async () => {
    await crashAndRecover("out/main.min.mjs");
  });

  it("maps a stack trace from inside a step to the .ts line and column", () => {
    const src = readFileSync(join(dir, "src/orders.ts"), "utf8").split("\n");
    const lineNo = src.findIndex((l) => l.includes("EXPLODE_LINE")) + 1;
    // V8 places the frame at the `new` of `throw new Error(...)`; columns are 1-based.
    const column = src[lineNo - 1]!.indexOf("new Error") + 1;
    const stack = line(node("out/main.min.mjs", ["trace"]), "STACK") as string;
    expect(stack).toContain("exploded inside a step");
    expect(stack.split("\n")[1]).toContain(`src/orders.ts:${lineNo}:${column})`);
  });
});

describe("the same sources under tspc", () => {
  beforeAll(() => {
    mustSucceed(sh(join(BIN, "tspc"), ["-p", "tsconfig.json"], dir), "tspc");
  }, 120_000);

  it("a run started by the tspc build finishes under the esbuild bundle", async () => {
    await crashAndRecover("dist/main.js", "out/main.min.mjs");
  });

  it("a run started by the esbuild bundle finishes under the tspc build", async () => {
    await crashAndRecover("out/main.min.mjs", "dist/main.js");
  });
});

describe("other output shapes", () => {
  it("a minified CommonJS bundle runs the workflow", async () => {
    await bundle("out/main.min.cjs", "cjs");
    expect(readFileSync(join(dir, "out/main.min.cjs"), "utf8")).not.toMatch(/^import /m);
    expect(line(node("out/main.min.cjs", ["start", "wf-cjs"]), "RESULT")).toEqual(RESULT);
    expect(line(node("out/main.min.cjs", ["steps", "wf-cjs"]), "STEPS")).toEqual(EXPECTED_STEPS);
  });

  it("without bundling, each file is rewritten in place and the output runs", async () => {
    await esbuild.build({
      absWorkingDir: dir, entryPoints: ["src/main.ts", "src/orders.ts"], bundle: false, format: "esm", platform: "node",
      outdir: "unbundled", outExtension: { ".js": ".mjs" }, sourcemap: "inline", logLevel: "silent", plugins: [stepwise()],
    });
    // The relative import still says ./orders.js; point it at the .mjs beside it.
    const main = join(dir, "unbundled/main.mjs");
    writeFileSync(main, readFileSync(main, "utf8").replace(`"./orders.js"`, `"./orders.mjs"`));
    expect(readFileSync(join(dir, "unbundled/orders.mjs"), "utf8")).toContain(`import { __stepwise } from "stepwise"`);
    expect(line(node("unbundled/main.mjs", ["start", "wf-unbundled"]), "RESULT")).toEqual(RESULT);
    expect(line(node("unbundled/main.mjs", ["steps", "wf-unbundled"]), "STEPS")).toEqual(EXPECTED_STEPS);
  });
});

describe("examples/esbuild-app", () => {
  it("its build script bundles the service with the plugin, and the service runs orders durably", async () => {
    const example = join(REPO, "examples/esbuild-app");
    mustSucceed(sh(process.execPath, [join(example, "build.mjs")], REPO), "examples/esbuild-app/build.mjs");
    const bundled = readFileSync(join(example, "dist/server.mjs"), "utf8");
    expect(bundled).toContain(`"Payments.charge"`);
    const child = spawn(process.execPath, ["--enable-source-maps", join(example, "dist/server.mjs")], {
      cwd: dir, env: { ...process.env, PORT: "0" }, stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let output = "";
      child.stderr.on("data", (d) => (output += d));
      const base = await new Promise<string>((res, rej) => {
        child.stdout.on("data", (d) => {
          output += d;
          const m = /on (http:\/\/\S+)/.exec(output);
          if (m) res(m[1]!);
        });
        child.on("exit", () => rej(new Error(`the service exited:\n${output}`)));
      });
      const post = async () => (await fetch(`${base}/orders/ex-1?sku=sku-9&qty=2`, { method: "POST" })).json();
      const first = await post();
      expect(first).toEqual({ orderId: "ex-1", reservation: "res-sku-9-2", chargeId: "ch_ex-1", cents: 3998, receipt: "receipt-ex-1-ch_ex-1" });
      // The order ID is an idempotency key: the same result, nothing run again.
      expect(await post()).toEqual(first);
      expect(await (await fetch(`${base}/orders/ex-1`)).json()).toEqual({ status: "SUCCESS", steps: ["reserveStock", "Payments.charge", "sendReceipt"] });
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    }
  });
});
