/**
 * End to end: the project in e2e-project/ is built the ways a user builds it (tspc for
 * ESM and CommonJS, and plain tsc after `ts-patch install` on a copy of TypeScript),
 * run against the embedded database, SIGKILLed mid-workflow and finished by a new
 * process. The step IDs recorded must be the qualified names. Then the ESM output is
 * bundled and minified by esbuild: same IDs, and it recovers a run the unminified build
 * started.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startAndKill } from "../helpers/hold-and-kill.js";
import { E2E_PROJECT_SRC as PROJECT_SRC, EXPECTED_STEPS, RESULT } from "../helpers/e2e-project.js";

const REPO = resolve(import.meta.dirname, "../..");
const BIN = join(REPO, "node_modules/.bin");

let root: string;

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

function mustSucceed(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A project directory whose node_modules resolves "stepwise" to this repo's build. */
function makeProject(name: string, type: "module" | "commonjs", tsconfig: object): string {
  const dir = join(root, name);
  mkdirSync(join(dir, "node_modules/@types"), { recursive: true });
  cpSync(PROJECT_SRC, join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type }));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  symlinkSync(REPO, join(dir, "node_modules/stepwise"));
  symlinkSync(join(REPO, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
  // For the esbuild bundle, which leaves the database drivers external.
  symlinkSync(join(REPO, "node_modules/@electric-sql"), join(dir, "node_modules/@electric-sql"));
  symlinkSync(join(REPO, "node_modules/pg"), join(dir, "node_modules/pg"));
  // The embedded database's file lock, a native addon loaded from node_modules at run time.
  symlinkSync(join(REPO, "node_modules/fs-native-extensions"), join(dir, "node_modules/fs-native-extensions"));
  return dir;
}

function tsconfig(module: "NodeNext" | "CommonJS"): object {
  return {
    compilerOptions: {
      target: "ES2022",
      module,
      moduleResolution: module === "NodeNext" ? "NodeNext" : "Node10",
      strict: true,
      outDir: "dist",
      rootDir: "src",
      sourceMap: true,
      skipLibCheck: true,
      types: ["node"],
      plugins: [{ transform: "stepwise/transformer", manifest: "stepwise.manifest.json" }],
    },
    include: ["src"],
  };
}

function node(dir: string, entry: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return mustSucceed(sh(process.execPath, ["--enable-source-maps", entry, ...args], dir, env), `node ${entry} ${args.join(" ")}`);
}

function line(out: string, prefix: string): unknown {
  const l = out.split("\n").find((x) => x.startsWith(prefix + " "));
  if (!l) throw new Error(`no ${prefix} line in:\n${out}`);
  return JSON.parse(l.slice(prefix.length + 1));
}

function effects(dir: string): string[] {
  const p = join(dir, "effects.log");
  return existsSync(p) ? readFileSync(p, "utf8").split("\n").filter(Boolean) : [];
}

/** The crash-and-recover scenario against one built entry point. */
async function crashAndRecover(dir: string, entry: string, recoverEntry = entry): Promise<void> {
  const id = `wf-${Math.random().toString(36).slice(2, 8)}`;
  rmSync(join(dir, "effects.log"), { force: true });
  await startAndKill(dir, entry, id);
  expect(effects(dir)).toEqual(["reserve", "charge", "hold"]);
  const out = node(dir, recoverEntry, ["recover", id]);
  expect(line(out, "RESULT")).toEqual(RESULT);
  // Completed steps were replayed from their checkpoints, not run again.
  expect(effects(dir)).toEqual(["reserve", "charge", "hold", "hold", "notify"]);
  expect(line(node(dir, recoverEntry, ["steps", id]), "STEPS")).toEqual(EXPECTED_STEPS);
}

beforeAll(() => {
  // The projects load this repo's dist/: build it (runtime and transformer) first.
  mustSucceed(sh(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], REPO), "npm run build");
  root = mkdtempSync(join(tmpdir(), "stepwise-e2e-"));
}, 180_000);

afterAll(() => {
  if (root && !process.env.KEEP_E2E) rmSync(root, { recursive: true, force: true });
});

describe("tspc, ESM", () => {
  let dir: string;
  beforeAll(() => {
    dir = makeProject("esm", "module", tsconfig("NodeNext"));
    mustSucceed(sh(join(BIN, "tspc"), ["-p", "tsconfig.json"], dir), "tspc");
  }, 120_000);

  it("rewrites the tagged forms and writes the manifest", () => {
    const js = readFileSync(join(dir, "dist/orders.js"), "utf8");
    expect(js).toContain(`import { __stepwise } from "stepwise";`);
    expect(js).toContain(`__stepwise.run("step", { name: "Payments.charge", retriesAllowed: true, maxAttempts: 2, intervalSeconds: 0 }`);
    expect(js).toContain(`__stepwise.register("workflow", "checkout", checkout);`);
    const manifest = JSON.parse(readFileSync(join(dir, "stepwise.manifest.json"), "utf8"));
    expect(manifest.operations.map((o: { id: string }) => o.id)).toEqual(["Payments.charge", "checkout", "explode", "hold", "notify", "reserve"]);
    // A file without markers is untouched.
    expect(readFileSync(join(dir, "dist/main.js"), "utf8")).not.toContain("__stepwise");
  });

  it("records qualified step IDs and finishes a SIGKILLed run in a new process", async () => {
    await crashAndRecover(dir, "dist/main.js");
  });

  it("points a stack trace from inside a step at the user's file and line", () => {
    const src = readFileSync(join(dir, "src/orders.ts"), "utf8").split("\n");
    const lineNo = src.findIndex((l) => l.includes("EXPLODE_LINE")) + 1;
    const stack = line(node(dir, "dist/main.js", ["trace"]), "STACK") as string;
    expect(stack).toContain("exploded inside a step");
    expect(stack.split("\n")[1]).toContain(`src/orders.ts:${lineNo}:`);
  });

  describe("bundled and minified by esbuild", () => {
    let bundle: string;
    beforeAll(() => {
      bundle = "bundle.min.mjs";
      mustSucceed(
        sh(join(BIN, "esbuild"), [
          "dist/main.js", "--bundle", "--minify", "--platform=node", "--format=esm", `--outfile=${bundle}`,
          "--external:@electric-sql/pglite", "--external:pg",
          // ESM bundles of CommonJS code need a require.
          "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
        ], dir),
        "esbuild",
      );
    }, 60_000);

    it("is really minified (function names are gone)", () => {
      const code = readFileSync(join(dir, bundle), "utf8");
      expect(code).not.toMatch(/function reserve\b/);
      expect(code).toContain(`"Payments.charge"`);
    });

    it("records the same step IDs", async () => {
      await crashAndRecover(dir, bundle);
    });

    it("recovers a run started by the unminified build", async () => {
      await crashAndRecover(dir, "dist/main.js", bundle);
    });
  });
});

describe("tspc, CommonJS", () => {
  it("builds to require() and recovers a SIGKILLed run with qualified IDs", async () => {
    const dir = makeProject("cjs", "commonjs", tsconfig("CommonJS"));
    mustSucceed(sh(join(BIN, "tspc"), ["-p", "tsconfig.json"], dir), "tspc");
    const js = readFileSync(join(dir, "dist/orders.js"), "utf8");
    expect(js).toContain(`const { __stepwise } = require("stepwise");`);
    expect(js).not.toMatch(/^import /m);
    await crashAndRecover(dir, "dist/main.js");
  });
});

describe("ts-patch install, then plain tsc", () => {
  it("applies the transformer from tsconfig plugins", async () => {
    // Patch a copy of TypeScript, never the repo's own.
    const tsDir = join(root, "patched/node_modules/typescript");
    cpSync(join(REPO, "node_modules/typescript"), tsDir, { recursive: true });
    mustSucceed(sh(process.execPath, [join(REPO, "node_modules/ts-patch/bin/ts-patch.js"), "install", "--dir", tsDir, "--no-cache", "--silent"], root), "ts-patch install");
    const dir = makeProject("patched-tsc", "module", tsconfig("NodeNext"));
    mustSucceed(sh(process.execPath, [join(tsDir, "bin/tsc"), "-p", "tsconfig.json"], dir), "patched tsc");
    expect(readFileSync(join(dir, "dist/orders.js"), "utf8")).toContain(`__stepwise.run("step", { name: "reserve" }`);
    await crashAndRecover(dir, "dist/main.js");

    // Diagnostics fail the plain tsc build too, tsc-style.
    writeFileSync(join(dir, "src/bad.ts"), `/** @step { maxAtempts: 3 } */\nexport async function bad() {}\n`);
    const r = sh(process.execPath, [join(tsDir, "bin/tsc"), "-p", "tsconfig.json"], dir);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toContain(`src/bad.ts(1,13): error TS991005: SW1005 unknown step option 'maxAtempts'; did you mean 'maxAttempts'?`);
  });
});

describe("tspc diagnostics", () => {
  it("fail the build with file(line,col) and a non-zero exit", () => {
    const dir = makeProject("diagnostics", "module", tsconfig("NodeNext"));
    writeFileSync(join(dir, "src/bad.ts"), [
      `/** @step */`,
      `export function notAsync() { return 1; }`,
      `/** @workflow */`,
      `export async function checkout() {}`,
      `export class A {`,
      `  /** @workflow */`,
      `  async run() {}`,
      `}`,
    ].join("\n"));
    const r = sh(join(BIN, "tspc"), ["-p", "tsconfig.json"], dir);
    expect(r.status).not.toBe(0);
    const lines = r.stdout.split("\n").filter(Boolean).sort();
    const checkoutLine = readFileSync(join(dir, "src/orders.ts"), "utf8").split("\n").findIndex((l) => l.includes("function checkout")) + 1;
    expect(lines).toEqual([
      `src/bad.ts(2,17): error TS991003: SW1003 a step must be async: its result is checkpointed before it is returned. Add 'async' (and return a Promise).`,
      expect.stringMatching(/^src\/bad\.ts\(6,7\): error TS991007: SW1007 @workflow cannot be used on an instance method; .*make it static, or a top-level function\.$/),
      // The second definition in program order is reported; the message names both places.
      `src/orders.ts(${checkoutLine},23): error TS991006: SW1006 duplicate ID "checkout": workflow at src/orders.ts:${checkoutLine} and workflow at src/bad.ts:4 would be recorded under the same name. Rename one, or give it an explicit { name: "..." } in its config.`,
    ]);
  });
});
