/**
 * `stepwise verify`: the e2e project's sources against builds that rewrote them (tspc, the
 * esbuild plugin) and builds that did not (plain tsc, esbuild without the plugin).
 */
import * as esbuild from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runVerify } from "../../cli/verify.js";
import { stepwise } from "../../transformer/esbuild.js";
import { BIN, makeProject, mustSucceed, REPO, sh, tempDir } from "../esbuild/harness.js";

const TAGGED = ["step \"reserve\"", "step \"Payments.charge\"", "step \"hold\"", "step \"notify\"", "workflow \"checkout\"", "step \"explode\""];
let dir: string;

function tsconfig(plugin: boolean, sourceMap: boolean): string {
  return JSON.stringify({
    compilerOptions: {
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "dist", rootDir: "src", sourceMap,
      skipLibCheck: true, types: ["node"], ...(plugin ? { plugins: [{ transform: "stepwise/transformer" }] } : {}),
    },
    include: ["src"],
  });
}

async function bundle(outfile: string, plugin: boolean, entry = "src/main.ts"): Promise<void> {
  await esbuild.build({
    absWorkingDir: dir, entryPoints: [entry], bundle: true, minify: true, sourcemap: true, platform: "node", format: "esm",
    outfile, external: ["stepwise", "@electric-sql/pglite", "pg"], logLevel: "silent", plugins: plugin ? [stepwise({ cacheDir: false })] : [],
  });
}

beforeAll(() => {
  dir = makeProject(tempDir("stepwise-verify-"), "module", join(REPO, "test/transformer/e2e-project/src"));
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("stepwise verify", () => {
  it("fails a plain tsc build, naming every tagged function, and passes the tspc build of the same sources", () => {
    writeFileSync(join(dir, "tsconfig.json"), tsconfig(false, false));
    mustSucceed(sh(join(BIN, "tsc"), ["-p", "tsconfig.json"], dir), "tsc");
    const plain = runVerify({ output: "dist", cwd: dir });
    expect(plain.exitCode).toBe(1);
    expect(plain.problems.map((p) => `${p.kind} "${p.id}"`).sort()).toEqual([...TAGGED].sort());
    expect(plain.output).toContain(`src/orders.ts:12: error: step "reserve" (src/orders.ts:12) is not rewritten in `);
    expect(plain.output).toMatch(/6 of 6 tagged functions not rewritten in dist\. Add the Stepwise transform/);

    rmSync(join(dir, "dist"), { recursive: true });
    writeFileSync(join(dir, "tsconfig.json"), tsconfig(true, true));
    mustSucceed(sh(join(BIN, "tspc"), ["-p", "tsconfig.json"], dir), "tspc");
    const patched = runVerify({ output: "dist", cwd: dir });
    expect(patched.output).toBe("stepwise verify: 6 tagged functions rewritten in dist.\n");
    expect(patched.exitCode).toBe(0);
  });

  it("checks a minified bundle through its source map: without the plugin it fails, with it it passes", async () => {
    await bundle("out/plain.mjs", false);
    const plain = runVerify({ output: "out/plain.mjs", cwd: dir });
    expect(plain.exitCode).toBe(1);
    expect(plain.problems.map((p) => p.id).sort()).toEqual(["Payments.charge", "checkout", "explode", "hold", "notify", "reserve"]);
    expect(plain.problems[0]!.message).toContain("is not rewritten in out/plain.mjs: the build ran without the Stepwise transform");

    await bundle("out/rewritten.mjs", true);
    const rewritten = runVerify({ output: "out/rewritten.mjs", cwd: dir });
    expect(rewritten.problems).toEqual([]);
    expect(rewritten.rewritten).toBe(6);
  });

  it("a tagged function the bundle left out (tree-shaken, or its file never imported) is not an error", async () => {
    writeFileSync(join(dir, "src/unused.ts"), `/** @step */\nexport async function neverCalled() { return 1; }\n`);
    writeFileSync(join(dir, "src/entry.ts"), `import { explode } from "./orders.js";\nimport { neverCalled as _n } from "./unused.js";\nawait explode().catch(() => {});\n`);
    try {
      await bundle("out/shaken.mjs", true, "src/entry.ts");
      const r = runVerify({ output: "out/shaken.mjs", cwd: dir });
      expect(r.problems).toEqual([]);
      expect(r.rewritten).toBeGreaterThan(0);
      // neverCalled, and orders.ts's functions the entry does not reach, are not in the bundle.
      expect(r.leftOut).toBeGreaterThan(0);
      expect(r.output).toMatch(/not in the build\.\n$/);
    } finally {
      rmSync(join(dir, "src/unused.ts"));
      rmSync(join(dir, "src/entry.ts"));
    }
  });
});
