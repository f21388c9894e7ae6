/**
 * stepwise/register end to end: the transformer's e2e project (the same sources tspc
 * builds) run with no build step, under Node 22's and 24's type stripping and under tsx
 * on Node 20; SIGKILLed mid-workflow and finished by another toolchain (tspc's build,
 * another Node), with no completed step run again and the same step IDs; a stack trace
 * from a step points at the .ts line; plain JavaScript on Node 20; a process whose files
 * have no tag never loads TypeScript; a file with a Stepwise error does not load.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { BIN, build, effectsIn, makeProject, mustSucceed, outputLine, REPO, sh, tempDir, writeFiles } from "../esbuild/harness.js";
import { startAndKill } from "../helpers/hold-and-kill.js";
import { toolchains } from "../toolchains/paths.js";
import { EXPECTED_STEPS, RESULT } from "../helpers/e2e-project.js";

const REGISTER = ["--import", "stepwise/register"];
const TSX = join(BIN, "tsx");

let dir: string;
// Each toolchain as a command: how it runs src/main.ts (or the tspc build's dist/main.js).
let node22: string[];
let node24: string[];
const tsx20 = [TSX, ...REGISTER];
// What the tsx CLI runs, in one process: a SIGKILL of the CLI would leave its child running.
const tsx20Direct = [process.execPath, "--import", pathToFileURL(join(REPO, "node_modules/tsx/dist/loader.mjs")).href, ...REGISTER];
const tspcBuild = [process.execPath];

function run(command: string[], entry: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return mustSucceed(sh(command[0]!, [...command.slice(1), entry, ...args], dir, { STEPWISE_CACHE_DIR: join(dir, ".cache"), ...env }), `${command.join(" ")} ${entry} ${args.join(" ")}`);
}

const line = outputLine;
const effects = () => effectsIn(dir);

/** The entry each toolchain runs: Node's type stripping needs the .ts extension in imports, tsx and tsc take .js. */
const entryOf = (command: string[]) => (command === tspcBuild ? "dist/main.js" : command === tsx20 || command === tsx20Direct ? "src/main.ts" : "src/main-strip.ts");

async function crashAndRecover(start: string[], recover: string[]): Promise<void> {
  const id = `wf-${Math.random().toString(36).slice(2, 8)}`;
  rmSync(join(dir, "effects.log"), { force: true });
  await startAndKill(dir, entryOf(start), id, start);
  expect(effects()).toEqual(["reserve", "charge", "hold"]);
  expect(line(run(recover, entryOf(recover), ["recover", id]), "RESULT")).toEqual(RESULT);
  // reserve and charge come from their checkpoints; hold (killed inside) runs again.
  expect(effects()).toEqual(["reserve", "charge", "hold", "hold", "notify"]);
  expect(line(run(recover, entryOf(recover), ["steps", id]), "STEPS")).toEqual(EXPECTED_STEPS);
}

beforeAll(async () => {
  node22 = [toolchains.node22(), ...REGISTER];
  node24 = [toolchains.node24(), ...REGISTER];
  // node_modules/stepwise -> this repo; its exports serve dist/, built by test/global-setup.ts.
  dir = makeProject(tempDir("stepwise-loader-e2e-"), "module", join(REPO, "test/transformer/e2e-project/src"));
  const main = readFileSync(join(dir, "src/main.ts"), "utf8");
  writeFileSync(join(dir, "src/main-strip.ts"), main.replace(`"./orders.js"`, `"./orders.ts"`));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "dist", rootDir: "src", sourceMap: true,
        skipLibCheck: true, types: ["node"], allowImportingTsExtensions: true, rewriteRelativeImportExtensions: true,
        plugins: [{ transform: "stepwise/transformer", manifest: "stepwise.manifest.json" }],
      },
      include: ["src"],
    }),
  );
  mustSucceed(sh(join(BIN, "tspc"), ["-p", "tsconfig.json"], dir), "tspc");
  // esbuild's manifest of the same sources, for the loader's to be compared with.
  const r = await build(dir, { entryPoints: ["src/main.ts"], bundle: true, platform: "node", format: "esm", packages: "external" }, { manifest: "esbuild.manifest.json", cacheDir: false });
  expect(r.errors).toEqual([]);
}, 120_000);

afterAll(() => {
  if (dir && !process.env.KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

describe("node --import stepwise/register, no build step", { timeout: 240_000 }, () => {
  it("Node 22 type stripping: runs the workflow durably, with tspc's step IDs", () => {
    expect(line(run(node22, "src/main-strip.ts", ["start", "wf-22"]), "RESULT")).toEqual(RESULT);
    expect(line(run(node22, "src/main-strip.ts", ["steps", "wf-22"]), "STEPS")).toEqual(EXPECTED_STEPS);
    const manifest = JSON.parse(readFileSync(join(dir, "stepwise.manifest.json"), "utf8")) as { operations: { id: string }[] };
    expect(EXPECTED_STEPS.every((s) => manifest.operations.some((o) => o.id === s.stepID))).toBe(true);
  });

  it("STEPWISE_MANIFEST: the loader writes the manifest of what it loaded, identical to tspc's and esbuild's", () => {
    // In the application's thread (registerHooks, Node 22) and in a hooks thread (module.register, beside tsx).
    for (const command of [node22, tsx20]) {
      run(command, entryOf(command), ["steps", "none"], { STEPWISE_MANIFEST: "out/loaded.manifest.json" });
      const loaded = readFileSync(join(dir, "out/loaded.manifest.json"), "utf8");
      expect(loaded).toBe(readFileSync(join(dir, "stepwise.manifest.json"), "utf8"));
      expect(loaded).toBe(readFileSync(join(dir, "esbuild.manifest.json"), "utf8"));
      rmSync(join(dir, "out"), { recursive: true, force: true });
    }
    // Not asked for, nothing written.
    run(node22, "src/main-strip.ts", ["steps", "none"]);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("Node 24: SIGKILLed mid-workflow, the tspc build finishes it, no completed step run again", async () => {
    await crashAndRecover(node24, tspcBuild);
  });

  it("a run the tspc build started finishes under Node 22 with the loader", async () => {
    await crashAndRecover(tspcBuild, node22);
  });

  it("a stack trace from inside a step points at the .ts line and column", () => {
    const src = readFileSync(join(dir, "src/orders.ts"), "utf8").split("\n");
    const lineNo = src.findIndex((l) => l.includes("EXPLODE_LINE")) + 1;
    const column = src[lineNo - 1]!.indexOf("new Error") + 1;
    for (const command of [node24, tsx20]) {
      const stack = line(run(command, entryOf(command), ["trace"]), "STACK") as string;
      expect(stack.split("\n")[1]).toContain(`src/orders.ts:${lineNo}:${column})`);
    }
  });
});

describe("tsx --import stepwise/register on Node 20", { timeout: 240_000 }, () => {
  it("SIGKILLed mid-workflow under tsx, Node 24 with the loader finishes it", async () => {
    await crashAndRecover(tsx20Direct, node24);
  });
});

describe("what the loader leaves alone, and what it refuses", { timeout: 240_000 }, () => {
  it("plain JavaScript on Node 20: tagged functions in an .mjs file are durable", () => {
    writeFiles(dir, {
      "js/app.mjs": [
        `import { Stepwise } from "stepwise";`,
        `/** @step */`,
        `async function twice(x) { return 2 * x; }`,
        `/** @workflow */`,
        `export async function flow(x) { return await twice(x) + 1; }`,
        `await Stepwise.launch({ dataDir: ".stepwise-js" });`,
        `const h = await Stepwise.startWorkflow(flow, { workflowID: "js-1" })(20);`,
        `console.log("RESULT " + JSON.stringify(await h.getResult()));`,
        `console.log("STEPS " + JSON.stringify((await Stepwise.listWorkflowSteps("js-1")).map((s) => s.stepID)));`,
        `await Stepwise.shutdown();`,
      ].join("\n"),
    });
    const out = run([process.execPath, ...REGISTER], "js/app.mjs", []);
    expect(line(out, "RESULT")).toBe(41);
    expect(line(out, "STEPS")).toEqual(["twice"]);
  });

  it("a process none of whose files has a tag does not load TypeScript", () => {
    writeFiles(dir, {
      "plain/app.ts": `import { Stepwise } from "stepwise";\nimport { helper } from "./helper.ts";\nimport { createRequire } from "node:module";\n` +
        `const cache = createRequire(import.meta.url).cache;\nconsole.log("TS " + JSON.stringify(Object.keys(cache).some((k) => /[\\\\/]typescript[\\\\/]lib[\\\\/]/.test(k))));\n` +
        `console.log("HELPER " + JSON.stringify(helper(typeof Stepwise.launch)));\n`,
      "plain/helper.ts": `/** Doubles a string. */\nexport function helper(s: string): string { return s + s; }\n`,
    });
    const out = run(node24, "plain/app.ts", []);
    expect(line(out, "HELPER")).toBe("functionfunction");
    expect(line(out, "TS")).toBe(false);
    // The same check sees TypeScript when a file has a tag (so the one above can fail).
    writeFiles(dir, { "plain/helper.ts": `/** @step */\nexport async function helper(s: string) { return s + s; }\n` });
    expect(line(run(node24, "plain/app.ts", [], { STEPWISE_CACHE_DIR: "0" }), "TS")).toBe(true);
  });

  it("a file with a Stepwise error does not load, and the error says where and why", () => {
    writeFiles(dir, { "bad/app.ts": `/** @step */\nexport function notAsync(x: number) { return x; }\nnotAsync(1);\n` });
    const r = sh(toolchains.node22(), [...REGISTER, "bad/app.ts"], dir, { STEPWISE_CACHE_DIR: "0" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`bad/app.ts(2,17): error SW1003 a step must be async`);
  });
});
