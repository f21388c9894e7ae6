/**
 * TypeScript 6 and 7. TypeScript 7 has no transformer API: `stepwise build` runs its tsc
 * and rewrites the emitted JavaScript (same IDs as tspc, source maps chained to the .ts).
 * TypeScript 6 keeps the API: ts-patch 3.3's tspc (Node 20) and ts-patch 4's (Node 24)
 * patch it. Each build of the e2e project runs, and a run one build started is finished
 * by another with no completed step run again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runBuild } from "../../cli/build.js";
import { runVerify } from "../../cli/verify.js";
import { BIN, makeProject, mustSucceed, REPO, sh, tempDir } from "../esbuild/harness.js";
import { startAndKill } from "../helpers/hold-and-kill.js";
import { toolchains } from "../toolchains/paths.js";
import { EXPECTED_STEPS, RESULT } from "../helpers/e2e-project.js";

let dir: string;

function tsconfig(outDir: string, plugin: boolean): string {
  return JSON.stringify({
    compilerOptions: {
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir, rootDir: "src", sourceMap: true,
      skipLibCheck: true, types: ["node"], ...(plugin ? { plugins: [{ transform: "stepwise/transformer" }] } : {}),
    },
    include: ["src"],
  });
}

function line(out: string, prefix: string): unknown {
  const l = out.split("\n").find((x) => x.startsWith(prefix + " "));
  if (!l) throw new Error(`no ${prefix} line in:\n${out}`);
  return JSON.parse(l.slice(prefix.length + 1));
}

function node(entry: string, args: string[]): string {
  return mustSucceed(sh(process.execPath, ["--enable-source-maps", entry, ...args], dir), `node ${entry} ${args.join(" ")}`);
}

function effects(): string[] {
  const p = join(dir, "effects.log");
  return existsSync(p) ? readFileSync(p, "utf8").split("\n").filter(Boolean) : [];
}

beforeAll(() => {
  dir = makeProject(tempDir("stepwise-ts67-"), "module", join(REPO, "test/transformer/e2e-project/src"));
  // The project's own compiler is TypeScript 7 (its package ships a native tsc).
  symlinkSync(toolchains.typescript7(), join(dir, "node_modules/typescript"));
  writeFileSync(join(dir, "tsconfig.json"), tsconfig("dist7", false));
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("TypeScript 7: tsc, then stepwise build's rewrite of the emitted JavaScript", { timeout: 240_000 }, () => {
  it("plain TS 7 tsc output fails stepwise verify; stepwise build's output runs the workflow durably with tspc's IDs", () => {
    mustSucceed(sh(process.execPath, [join(dir, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], dir), "TS 7 tsc");
    expect(runVerify({ output: "dist7", cwd: dir }).problems.map((p) => p.id)).toContain("Payments.charge");

    const r = runBuild({ cwd: dir });
    expect(r.typescriptVersion).toMatch(/^7\./);
    expect(r.output).toBe("stepwise build: tsc (TypeScript " + r.typescriptVersion + "), then rewrote 1 emitted file.\n");
    expect(r.exitCode).toBe(0);
    expect(runVerify({ output: "dist7", cwd: dir }).exitCode).toBe(0);
    expect(line(node("dist7/main.js", ["start", "wf-7"]), "RESULT")).toEqual(RESULT);
    expect(line(node("dist7/main.js", ["steps", "wf-7"]), "STEPS")).toEqual(EXPECTED_STEPS);
  });

  it("its source map is chained through tsc's: a stack trace from a step points at the .ts line and column", () => {
    const src = readFileSync(join(dir, "src/orders.ts"), "utf8").split("\n");
    const lineNo = src.findIndex((l) => l.includes("EXPLODE_LINE")) + 1;
    const column = src[lineNo - 1]!.indexOf("new Error") + 1;
    const stack = line(node("dist7/main.js", ["trace"]), "STACK") as string;
    expect(stack.split("\n")[1]).toContain(`src/orders.ts:${lineNo}:${column})`);
  });

  it("a run the TS 7 build started (SIGKILLed mid-workflow) finishes under the tspc build: same IDs, no step run twice", async () => {
    writeFileSync(join(dir, "tsconfig.tspc.json"), tsconfig("dist5", true));
    // tspc with the project's TypeScript 5.9 (ts-patch finds this repo's typescript).
    mustSucceed(sh(join(BIN, "tspc"), ["-p", "tsconfig.tspc.json"], dir, { TSP_COMPILER_TS_PATH: join(REPO, "node_modules/typescript") }), "tspc");
    rmSync(join(dir, "effects.log"), { force: true });
    await startAndKill(dir, "dist7/main.js", "wf-7-crash");
    expect(effects()).toEqual(["reserve", "charge", "hold"]);
    expect(line(node("dist5/main.js", ["recover", "wf-7-crash"]), "RESULT")).toEqual(RESULT);
    expect(effects()).toEqual(["reserve", "charge", "hold", "hold", "notify"]);
  });
});

describe("TypeScript 6 through ts-patch", { timeout: 240_000 }, () => {
  it("tspc (ts-patch 3.3) on TypeScript 6 rewrites the tags; ts-patch 4 on Node 24 does too", () => {
    writeFileSync(join(dir, "tsconfig.6.json"), tsconfig("dist6", true));
    const ts6 = { TSP_COMPILER_TS_PATH: toolchains.typescript6() };
    mustSucceed(sh(join(BIN, "tspc"), ["-p", "tsconfig.6.json"], dir, ts6), "tspc 3.3 + TypeScript 6");
    expect(runVerify({ output: "dist6", project: "tsconfig.6.json", cwd: dir }).exitCode).toBe(0);
    expect(line(node("dist6/main.js", ["start", "wf-6"]), "RESULT")).toEqual(RESULT);
    expect(line(node("dist6/main.js", ["steps", "wf-6"]), "STEPS")).toEqual(EXPECTED_STEPS);

    rmSync(join(dir, "dist6"), { recursive: true });
    mustSucceed(sh(toolchains.node24(), [toolchains.tspc4(), "-p", "tsconfig.6.json"], dir, ts6), "tspc 4 + TypeScript 6 on Node 24");
    expect(runVerify({ output: "dist6", project: "tsconfig.6.json", cwd: dir }).exitCode).toBe(0);
  });

  it("a TypeScript whose tsc ts-patch cannot patch: stepwise build fails with a Stepwise error naming the fix", () => {
    // A TypeScript 6.x ts-patch does not recognise (what TypeScript 7 is to ts-patch 3.3).
    const other = makeProject(tempDir("stepwise-unpatchable-"), "module", join(REPO, "test/transformer/e2e-project/src"));
    try {
      writeFileSync(join(other, "tsconfig.json"), tsconfig("dist", true));
      const fake = join(other, "node_modules/typescript");
      mkdirSync(join(fake, "lib"), { recursive: true });
      writeFileSync(join(fake, "package.json"), JSON.stringify({ name: "typescript", version: "6.9.0", main: "lib/typescript.js", bin: { tsc: "bin/tsc" } }));
      for (const f of ["tsc.js", "typescript.js", "_tsc.js"]) writeFileSync(join(fake, "lib", f), "module.exports = {};\n");
      symlinkSync(join(REPO, "node_modules/ts-patch"), join(other, "node_modules/ts-patch"));
      const before = process.env.TSP_COMPILER_TS_PATH;
      process.env.TSP_COMPILER_TS_PATH = fake;
      let r;
      try {
        r = runBuild({ cwd: other });
      } finally {
        if (before === undefined) delete process.env.TSP_COMPILER_TS_PATH;
        else process.env.TSP_COMPILER_TS_PATH = before;
      }
      expect(r.exitCode).toBe(1);
      expect(r.output).toContain("stepwise build: ts-patch cannot patch TypeScript 6.9.0. Pin TypeScript 5.9 with ts-patch 3.3 (npm i -D typescript@5.9 ts-patch@3.3)");
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
