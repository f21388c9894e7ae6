/**
 * The esbuild plugin in process: every diagnostic the core reports comes out as an
 * esbuild error at the place tspc names, a file without markers reaches esbuild
 * untouched, the rewrite works for ESM, CommonJS, .cts, .js and .tsx, watch rebuilds
 * pick up edits, and typeCheck resolves markers through the user's own re-exports.
 */
import * as esbuild from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stepwise } from "../../transformer/esbuild.js";
import { syntacticDiagnostics, TYPED_PROJECT_FILES } from "../transformer/harness.js";
import { build, REPO, tempDir, tscStyle, writeFiles } from "./harness.js";

const FIXTURES = join(REPO, "test/transformer/fixtures");
const dirs: string[] = [];
function project(files: Record<string, string>): string {
  const dir = tempDir("stepwise-esbuild-");
  dirs.push(dir);
  writeFiles(dir, files);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("diagnostics", () => {
  const fixtureFiles = (name: string) =>
    Object.fromEntries(readdirSync(join(FIXTURES, name)).filter((f) => f.endsWith(".ts")).map((f) => [f, readFileSync(join(FIXTURES, name, f), "utf8")]));
  const expectedOf = (name: string) => readFileSync(join(FIXTURES, name, "diagnostics.txt"), "utf8").split("\n").filter(Boolean).sort();
  const reported = (r: { errors: esbuild.Message[]; warnings: esbuild.Message[] }) =>
    [...r.errors.map((m) => tscStyle(m, "error")), ...r.warnings.map((m) => tscStyle(m, "warning"))].sort();
  const checkLines = (r: { errors: esbuild.Message[]; warnings: esbuild.Message[] }, files: Record<string, string>) => {
    for (const m of [...r.errors, ...r.warnings]) {
      expect(m.pluginName).toBe("stepwise");
      // The line text is the source line the location points into.
      expect(m.location!.lineText).toBe(files[m.location!.file]!.split("\n")[m.location!.line - 1]);
    }
  };
  const all = readdirSync(FIXTURES).filter((n) => /^sw1\d{3}-/.test(n)).sort();
  // Rules the core reports from the file alone (the analysis itself).
  const fileRules = all.filter((n) => /^sw100[35678]-/.test(n));
  // The misuse rules, which follow calls (and SW1004 types) through the checker, and their
  // look-alikes (negatives-*), which no mode may report.
  const callRules = [...all.filter((n) => !fileRules.includes(n)), ...readdirSync(FIXTURES).filter((n) => /^negatives-/.test(n)).sort()];
  // What the default mode must report of a fixture, when the fixture says exactly (see FixtureOptions.syntactic).
  const syntacticOf = (name: string) => syntacticDiagnostics(join(FIXTURES, name));

  // The transformer's own fixtures, built by esbuild instead of tspc: the same messages at
  // the same places (tsc columns are 1-based, esbuild's 0-based).
  it.each(fileRules)("%s: the same errors as tspc, at the same places", async (name) => {
    const files = fixtureFiles(name);
    const dir = project(files);
    const r = await build(dir, { entryPoints: Object.keys(files), bundle: false, format: "esm" });
    const expected = expectedOf(name);
    expect(expected.length).toBeGreaterThan(0);
    expect(r.ok).toBe(false);
    expect(reported(r)).toEqual(expected);
    checkLines(r, files);
  });

  // With typeCheck the program sees what tspc's does (the fixture harness's stub package and globals).
  const typedProject = (files: Record<string, string>) =>
    project({ ...files, ...TYPED_PROJECT_FILES });

  it.each(callRules)("%s: with typeCheck, the same errors and warnings as tspc, at the same places", async (name) => {
    const files = fixtureFiles(name);
    const dir = typedProject(files);
    const r = await build(dir, { entryPoints: Object.keys(files), bundle: false, format: "esm" }, { typeCheck: true });
    const expected = expectedOf(name);
    expect(reported(r)).toEqual(expected);
    expect(r.ok).toBe(!expected.some((l) => / error TS/.test(l)));
    checkLines(r, files);
  });

  it.each(callRules)("%s: without typeCheck, the direct forms, and nothing tspc does not report", async (name) => {
    const files = fixtureFiles(name);
    const dir = project(files);
    const r = await build(dir, { entryPoints: Object.keys(files), bundle: false, format: "esm" });
    const got = reported(r);
    const expected = expectedOf(name);
    const exact = syntacticOf(name);
    if (exact) expect(got).toEqual(exact);
    for (const d of got) expect(expected).toContain(d);
    // SW1004 needs types; every other rule has direct cases in its fixture.
    if (name.startsWith("sw1004") || name.startsWith("negatives-")) expect(got).toEqual([]);
    else if (!exact) expect(got.length).toBeGreaterThan(0);
    checkLines(r, files);
  });

  it("SW1003 with file, line, column, length and line text", async () => {
    const dir = project({ "src/a.ts": `import { x } from "./b.js";\n\n/** @step */\nexport function notAsync() { return x; }\n`, "src/b.ts": `export const x = 1;\n` });
    const r = await build(dir, { entryPoints: ["src/a.ts"], bundle: true, format: "esm" });
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([
      expect.objectContaining({
        text: "SW1003 a step must be async: its result is checkpointed before it is returned. Add 'async' (and return a Promise).",
        location: expect.objectContaining({ file: "src/a.ts", line: 4, column: 16, length: 8, lineText: "export function notAsync() { return x; }" }),
      }),
    ]);
  });

  it("SW1101 and SW1102 are warnings: the build succeeds, rewritten; SW1002 in a step is an error", async () => {
    const steps = `import { Stepwise } from "stepwise";\n/** @step */\nexport async function charge() { return 1; }\n`;
    const wf = [
      `import { charge } from "./steps.js";`,
      `/** @workflow */`,
      `export async function checkout() {`,
      `  const id = Math.random();`,
      `  notify();`,
      `  return id + (await charge());`,
      `}`,
      `/** @step */`,
      `async function notify() {}`,
      ``,
    ].join("\n");
    const dir = project({ "src/steps.ts": steps, "src/wf.ts": wf });
    const r = await build(dir, { entryPoints: ["src/wf.ts"], bundle: true, format: "esm", external: ["stepwise"] });
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => [w.text.slice(0, 6), w.location!.file, w.location!.line, w.location!.column, w.location!.lineText])).toEqual([
      ["SW1101", "src/wf.ts", 4, 13, "  const id = Math.random();"],
      // Without typeCheck only a step declared in this file is known as one.
      ["SW1102", "src/wf.ts", 5, 2, "  notify();"],
    ]);
    expect(r.warnings[0]!.text).toMatch(/^SW1101 workflow checkout calls Math\.random outside a step/);
    expect(r.outputs.get("out/wf.js")).toMatch(/__stepwise\d*\.register\("workflow", "checkout", checkout\)/);

    writeFileSync(join(dir, "src/steps.ts"), steps.replace("return 1;", `await Stepwise.send("other", "hi"); return 1;`));
    const bad = await build(dir, { entryPoints: ["src/wf.ts"], bundle: true, format: "esm", external: ["stepwise"] });
    expect(bad.ok).toBe(false);
    expect(bad.errors).toHaveLength(1);
    expect(bad.errors[0]!.text).toMatch(/^SW1002 step charge calls Stepwise\.send /);
    expect(bad.errors[0]!.location).toMatchObject({ file: "src/steps.ts", line: 3, lineText: `export async function charge() { await Stepwise.send("other", "hi"); return 1; }` });
  });

  it("columns are UTF-8 bytes, as esbuild counts them", async () => {
    const line = `const s = "é€"; /** @step { maxAtempts: 1 } */ export async function f() { return s; }`;
    const dir = project({ "a.ts": line + "\n" });
    const r = await build(dir, { entryPoints: ["a.ts"] });
    const loc = r.errors[0]!.location!;
    expect(loc.lineText).toBe(line);
    // 28 characters but 31 bytes before the key.
    expect(loc.column).toBe(31);
    expect(loc.length).toBe("maxAtempts".length);
  });

  it("SW1006 across the bundle names both files and fails before anything is written", async () => {
    const dir = project({
      "src/main.ts": `import { a } from "./billing.js";\nimport { b } from "./refunds.js";\nconsole.log(a, b);\n`,
      "src/billing.ts": `/** @step */\nexport async function charge() { return 1; }\nexport const a = charge;\n`,
      "src/refunds.ts": `// refunds\n\n/** @step */\nexport async function charge() { return 2; }\nexport const b = charge;\n`,
    });
    const r = await build(dir, { entryPoints: ["src/main.ts"], bundle: true, format: "esm", external: ["stepwise"], write: true, outdir: "out" });
    expect(r.ok).toBe(false);
    expect(r.errors).toHaveLength(1);
    const [e] = r.errors;
    expect(e!.text).toBe(
      `SW1006 duplicate ID "charge": step at src/refunds.ts:4 and step at src/billing.ts:2 would be recorded under the same name. ` +
        `Rename one, or give it an explicit { name: "..." } in its config.`,
    );
    expect(e!.location).toMatchObject({ file: "src/refunds.ts", line: 4, column: 22, length: 6, lineText: "export async function charge() { return 2; }" });
    // esbuild adds a note of its own ("triggered by this import") after ours.
    expect(e!.notes[0]).toMatchObject({ text: `"charge" is first defined here.`, location: { file: "src/billing.ts", line: 2, column: 22 } });
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("SW1006 is not reported for files outside the bundle, or for one file reached twice", async () => {
    const dir = project({
      "src/main.ts": `import { a } from "./billing.js";\nimport { a as again } from "./billing.ts";\nconsole.log(a, again);\n`,
      "src/billing.ts": `/** @step */\nexport async function charge() { return 1; }\nexport const a = charge;\n`,
      "src/unused.ts": `/** @step */\nexport async function charge() { return 2; }\n`,
    });
    const r = await build(dir, { entryPoints: ["src/main.ts"], bundle: true, format: "esm", external: ["stepwise"] });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("a file that does not parse is left to esbuild, which reports the syntax error", async () => {
    const dir = project({ "a.ts": `/** @step */\nexport async function f() { return 1 +; }\n` });
    const r = await build(dir, { entryPoints: ["a.ts"] });
    expect(r.ok).toBe(false);
    expect(r.errors[0]!.pluginName).toBe("");
    expect(r.errors[0]!.location).toMatchObject({ file: "a.ts", line: 2 });
  });
});

describe("a file without markers", () => {
  it("is returned to esbuild untouched: the next plugin loads it, and the output is byte-for-byte esbuild's", async () => {
    const files = {
      "src/main.ts": `import { total } from "./plain.js";\nimport { charge } from "./steps.js";\nconsole.log(total([1, 2]), await charge());\n`,
      "src/plain.ts": `// No markers here: a step is just a word.\nexport interface Row { n: number }\nexport function total(xs: number[]): number {\n  return xs.reduce((a, b) => a + b, 0);\n}\n`,
      "src/steps.ts": `/** @step */\nexport async function charge(): Promise<number> { return 1; }\n`,
    };
    const dir = project(files);
    const reached: string[] = [];
    const spy: esbuild.Plugin = {
      name: "spy",
      setup(b) {
        b.onLoad({ filter: /\.ts$/ }, (args) => {
          reached.push(args.path.slice(dir.length + 1));
          return undefined;
        });
      },
    };
    const opts: esbuild.BuildOptions = { entryPoints: ["src/main.ts", "src/plain.ts"], bundle: false, format: "esm" };
    const withPlugin = await build(dir, opts, {}, [spy]);
    expect(withPlugin.errors).toEqual([]);
    // steps.ts was answered by the stepwise plugin; the others fell through to the next one.
    expect(reached.sort()).toEqual(["src/main.ts", "src/plain.ts"]);
    const without = await build(dir, opts, false);
    expect(withPlugin.outputs.get("out/plain.js")).toBe(without.outputs.get("out/plain.js"));
    expect(withPlugin.outputs.get("out/main.js")).toBe(without.outputs.get("out/main.js"));
  });

  it("under node_modules is not transformed unless asked", async () => {
    const dir = project({
      "main.ts": `import { f } from "dep";\nconsole.log(f);\n`,
      "node_modules/dep/package.json": `{ "name": "dep", "main": "index.js" }`,
      "node_modules/dep/index.js": `/** @step */\nexport async function f() { return 1; }\n`,
    });
    const plain = await build(dir, { entryPoints: ["main.ts"], bundle: true, format: "esm", external: ["stepwise"] });
    expect(plain.outputs.get("out/main.js")).not.toContain("__stepwise");
    const included = await build(dir, { entryPoints: ["main.ts"], bundle: true, format: "esm", external: ["stepwise"] }, { includeNodeModules: true });
    expect(included.outputs.get("out/main.js")).toContain(`__stepwise.run("step", { name: "f" }`);
  });
});

describe("module forms", () => {
  const files = {
    "src/esm.ts": [
      `import { step as durable } from "stepwise";`,
      `import type { Row } from "./types.js";`,
      `/** @step { retriesAllowed: true, maxAttempts: 2 } */`,
      `export async function reserve(r: Row): Promise<string> { return r.id; }`,
      `export class Payments {`,
      `  /** @step */`,
      `  static async charge(id: string) { return id; }`,
      `}`,
      `/** @workflow */`,
      `export async function checkout(id: string) { return [await reserve({ id }), await Payments.charge(id), await notify(id)]; }`,
      `export const notify = durable(async (id: string) => id);`,
      // A const alias of the marker is one too, without the type checker.
      `const later = durable;`,
      `export const audit = later(async (id: string) => id);`,
      ``,
    ].join("\n"),
    "src/types.ts": `export interface Row { id: string }\n`,
    "src/legacy.cts": [`const { Stepwise } = require("stepwise");`, `/** @step */`, `async function ping() { return Stepwise.workflowID; }`, `module.exports = { ping };`, ``].join("\n"),
    "src/plain.js": [`import { workflow } from "stepwise";`, `export const run = workflow(async () => 1);`, ``].join("\n"),
    "src/view.tsx": [`/** @step */`, `export async function render(name: string) { return <b>{name}</b>; }`, `declare const React: any;`, ``].join("\n"),
  };

  it("ESM output: the helper is imported, IDs and config injected, type-only imports gone", async () => {
    const dir = project(files);
    const r = await build(dir, { entryPoints: ["src/esm.ts", "src/plain.js", "src/view.tsx"], bundle: false, format: "esm" });
    expect(r.errors).toEqual([]);
    const esm = r.outputs.get("out/esm.js")!;
    expect(esm).toContain(`import { __stepwise } from "stepwise";`);
    expect(esm).toContain(`__stepwise.run("step", { name: "reserve", retriesAllowed: true, maxAttempts: 2 }, this, arguments`);
    expect(esm).toContain(`__stepwise.run("step", { name: "Payments.charge" }`);
    expect(esm).toContain(`__stepwise.register("workflow", "checkout", checkout)`);
    expect(esm).toContain(`durable(async (id) => id, { name: "notify" })`);
    expect(esm).toContain(`later(async (id) => id, { name: "audit" })`);
    expect(esm).not.toContain("./types");
    expect(r.outputs.get("out/plain.js")).toContain(`workflow(async () => 1, { name: "run" })`);
    const view = r.outputs.get("out/view.js")!;
    expect(view).toContain(`__stepwise.run("step", { name: "render" }`);
    expect(view).toContain(`React.createElement("b", null, name)`);
  });

  it("CommonJS output, and a CommonJS source file gets a require() for the helper", async () => {
    const dir = project(files);
    const r = await build(dir, { entryPoints: ["src/esm.ts", "src/legacy.cts"], bundle: false, format: "cjs", platform: "node" });
    expect(r.errors).toEqual([]);
    const esm = r.outputs.get("out/esm.js")!;
    expect(esm).toMatch(/require\("stepwise"\)/);
    expect(esm).toContain(`name: "Payments.charge"`);
    const legacy = r.outputs.get("out/legacy.js")!;
    expect(legacy).toContain(`const { __stepwise } = require("stepwise");`);
    expect(legacy).toContain(`__stepwise.run("step", { name: "ping" }`);
    expect(legacy).not.toMatch(/^import /m);
  });
});

describe("what esbuild receives", () => {
  it("stays TypeScript, so esbuild applies the project's tsconfig (here legacy decorators)", async () => {
    const dir = project({
      "tsconfig.json": JSON.stringify({ compilerOptions: { experimentalDecorators: true } }),
      "a.ts": [
        `const logged = (_t: object, _k: string, d: PropertyDescriptor) => d;`,
        `export class Orders {`,
        `  /** @step */`,
        `  @logged`,
        `  static async charge(id: string): Promise<string> { return id; }`,
        `}`,
        ``,
      ].join("\n"),
    });
    const r = await build(dir, { entryPoints: ["a.ts"], bundle: true, format: "esm", external: ["stepwise"] });
    expect(r.errors).toEqual([]);
    const out = r.outputs.get("out/a.js")!;
    expect(out).toContain(`__stepwise.run("step", { name: "Orders.charge" }`);
    expect(out).toContain("__decorateClass(");
  });

  it("without the printer's internals, falls back to a JavaScript emit of the file", async () => {
    const ts = (await import("typescript")).default;
    const bare = { ...ts, createSourceMapGenerator: undefined };
    const dir = project({ "a.ts": `/** @step */\nexport async function charge(id: string): Promise<string> { return id; }\n` });
    const r = await build(dir, { entryPoints: ["a.ts"], bundle: false, format: "esm" }, { typescript: bare as unknown as typeof ts });
    expect(r.errors).toEqual([]);
    expect(r.outputs.get("out/a.js")).toContain(`return __stepwise.run("step", { name: "charge" }, this, arguments, async () => {`);
  });

  it("writes the manifest of the bundle's operations when asked", async () => {
    const dir = project({
      "src/main.ts": `import { a } from "./a.js";\nconsole.log(a);\n`,
      "src/a.ts": `/** @step { maxAttempts: 2, retriesAllowed: true } */\nexport async function a() { return 1; }\n/** @workflow */\nexport async function flow() { return a(); }\n`,
    });
    const r = await build(dir, { entryPoints: ["src/main.ts"], bundle: true, format: "esm", external: ["stepwise"] }, { manifest: "out/stepwise.manifest.json" });
    expect(r.errors).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, "out/stepwise.manifest.json"), "utf8"))).toEqual({
      version: 1,
      operations: [
        { id: "a", kind: "step", file: "src/a.ts", line: 2, config: { maxAttempts: 2, retriesAllowed: true } },
        { id: "flow", kind: "workflow", file: "src/a.ts", line: 4, config: {} },
      ],
    });
  });
});

describe("watch and incremental rebuilds", () => {
  it("picks up an edit that adds an error, then the fix, on context.rebuild()", async () => {
    const dir = project({
      "src/main.ts": `import { charge } from "./steps.js";\nconsole.log(await charge());\n`,
      "src/steps.ts": `/** @step */\nexport async function charge() { return 1; }\n`,
    });
    const ctx = await esbuild.context({
      absWorkingDir: dir, entryPoints: ["src/main.ts"], bundle: true, format: "esm", external: ["stepwise"],
      write: false, logLevel: "silent", outdir: "out", plugins: [stepwise()],
    });
    try {
      let r = await ctx.rebuild();
      expect(r.outputFiles![0]!.text).toContain(`name: "charge"`);
      writeFileSync(join(dir, "src/steps.ts"), `/** @step */\nexport function charge() { return 1; }\n`);
      await expect(ctx.rebuild()).rejects.toMatchObject({ errors: [expect.objectContaining({ text: expect.stringMatching(/^SW1003 /) })] });
      writeFileSync(join(dir, "src/steps.ts"), `/** @step { name: "charge.v2" } */\nexport async function charge() { return 1; }\n`);
      r = await ctx.rebuild();
      expect(r.outputFiles![0]!.text).toContain(`name: "charge.v2"`);
      // Rebuilding unchanged sources gives the same output and no duplicate reports.
      const again = await ctx.rebuild();
      expect(again.errors).toEqual([]);
      expect(again.outputFiles![0]!.text).toBe(r.outputFiles![0]!.text);
    } finally {
      await ctx.dispose();
    }
  });
});

describe("typeCheck", () => {
  const tsconfig = JSON.stringify({
    compilerOptions: {
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, skipLibCheck: true, noEmit: true,
      types: [], paths: { stepwise: [join(REPO, "runtime/index.ts")] },
    },
    include: ["src"],
  });
  const files = {
    "tsconfig.json": tsconfig,
    "package.json": `{ "type": "module" }`,
    // The user's own module re-exports the marker under another name: only the checker can tell.
    "src/markers.ts": `export { step as durable } from "stepwise";\n`,
    "src/steps.ts": `import { durable } from "./markers.js";\nexport const charge = durable(async () => 1);\n`,
    "src/main.ts": `import { charge } from "./steps.js";\nconsole.log(await charge());\n`,
  };
  const opts: esbuild.BuildOptions = { entryPoints: ["src/main.ts"], bundle: true, format: "esm", external: ["stepwise"] };

  it("resolves a marker re-exported through the user's module, which the syntactic mode cannot", async () => {
    const dir = project(files);
    const syntactic = await build(dir, opts);
    expect(syntactic.outputs.get("out/main.js")).not.toContain(`name: "charge"`);
    const typed = await build(dir, opts, { typeCheck: true });
    expect(typed.errors).toEqual([]);
    // (esbuild's bundle calls the re-exported marker by its own name.)
    expect(typed.outputs.get("out/main.js")).toContain(`step(async () => 1, { name: "charge" })`);
  });

  it("keeps the program across rebuilds and sees edits", async () => {
    const dir = project(files);
    const ctx = await esbuild.context({ absWorkingDir: dir, write: false, logLevel: "silent", outdir: "out", plugins: [stepwise({ typeCheck: true })], ...opts });
    try {
      expect((await ctx.rebuild()).outputFiles![0]!.text).toContain(`{ name: "charge" }`);
      writeFileSync(join(dir, "src/steps.ts"), `import { durable } from "./markers.js";\nexport const refund = durable(async () => 1);\nexport const charge = refund;\n`);
      expect((await ctx.rebuild()).outputFiles![0]!.text).toContain(`{ name: "refund" }`);
    } finally {
      await ctx.dispose();
    }
  });

  it("in watch mode, rebuilds when a file only the type checker reads changes", async () => {
    const dir = project({
      "tsconfig.json": JSON.stringify({ compilerOptions: { strict: true, module: "ESNext", moduleResolution: "Bundler", target: "ES2022", types: [], paths: { stepwise: [join(REPO, "runtime/index.ts")] } }, include: ["src"] }),
      // Imported for its type only: esbuild never loads it.
      "src/types.ts": `export interface Receipt { id: string }\n`,
      "src/main.ts": `import type { Receipt } from "./types.js";\n/** @step */\nexport async function receipt(): Promise<Receipt> { return { id: "r" } as Receipt; }\n`,
    });
    const results: esbuild.BuildResult[] = [];
    const ctx = await esbuild.context({
      absWorkingDir: dir, entryPoints: ["src/main.ts"], bundle: true, format: "esm", external: ["stepwise"], write: false, logLevel: "silent", outdir: "out",
      plugins: [stepwise({ typeCheck: true }), { name: "results", setup: (b) => b.onEnd((r) => void results.push(r)) }],
    });
    try {
      await ctx.watch();
      const until = async (n: number) => {
        for (const deadline = Date.now() + 20_000; results.length < n; await new Promise((r) => setTimeout(r, 50)))
          if (Date.now() > deadline) throw new Error(`no rebuild: ${results.length} builds`);
      };
      await until(1);
      expect(results[0]!.errors).toEqual([]);
      writeFileSync(join(dir, "src/types.ts"), `export interface Receipt { id: string; print(): void }\n`);
      await until(2);
      expect(results[1]!.errors.map((e) => e.text)).toEqual([expect.stringMatching(/^SW1004 the result of step receipt cannot be checkpointed: result\.print is a function/)]);
    } finally {
      await ctx.dispose();
    }
  });

  it("warns about a file with steps that the tsconfig does not include", async () => {
    // An entry point of its own that no file of the program imports.
    const dir = project({ ...files, "other/extra.ts": `/** @step */\nexport async function extra() { return 1; }\n` });
    const r = await build(dir, { ...opts, entryPoints: ["src/main.ts", "other/extra.ts"], outdir: "out" }, { typeCheck: true });
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.text)).toEqual([expect.stringMatching(/^stepwise: typeCheck: other\/extra\.ts is not in the program of tsconfig\.json, so its steps were checked without the type checker; add it/)]);
    expect(r.outputs.get("out/other/extra.js")).toContain(`{ name: "extra" }`);
  });

  it("says what to do when there is no tsconfig", async () => {
    const dir = project({ "a.ts": `export const x = 1;\n` });
    const r = await build(dir, { entryPoints: ["a.ts"] }, { typeCheck: true, tsconfig: "missing.json" });
    expect(r.ok).toBe(false);
    expect(r.errors[0]!.text).toMatch(/typeCheck needs a tsconfig\.json .*missing\.json.*pass stepwise\(\{ typeCheck: true, tsconfig:/);
  });
});

describe("the check at the build's end", () => {
  const files = {
    "src/main.ts": `import { reserve } from "./orders.js";\nconsole.log(await reserve("o1"));\n`,
    "src/orders.ts":
      `// Orders\n\n/** @step */\nexport async function reserve(id: string) { return "res-" + id; }\n\n` +
      `/** @step */\nexport async function refund(id: string) { return "ref-" + id; }\n`,
  };
  // A plugin ahead of stepwise's that loads orders.ts itself, so stepwise's onLoad never sees it.
  const first: esbuild.Plugin = {
    name: "loads-first",
    setup(b) {
      b.onLoad({ filter: /orders\.ts$/ }, (args) => ({ contents: readFileSync(args.path, "utf8"), loader: "ts" }));
    },
  };
  const opts: esbuild.BuildOptions = { entryPoints: ["src/main.ts"], bundle: true, format: "esm", external: ["stepwise"], sourcemap: true };

  it("fails a build whose tagged function reached the output unrewritten, naming it; the tree-shaken one is not named", async () => {
    const dir = project(files);
    for (const write of [false, true]) {
      const r = await esbuild
        .build({ absWorkingDir: dir, write, logLevel: "silent", outdir: "out", plugins: [first, stepwise({ manifest: "m.json" })], ...opts })
        .then(() => undefined, (e: esbuild.BuildFailure) => e);
      expect(r?.errors.map((e) => e.text)).toEqual([expect.stringContaining(`step "reserve" (src/orders.ts:4) is not rewritten in `)]);
      expect(r!.errors[0]!.text).toContain("put stepwise() first in the plugins");
      expect(r!.errors[0]!.location).toMatchObject({ file: "src/orders.ts", line: 4, lineText: `export async function reserve(id: string) { return "res-" + id; }` });
      expect(existsSync(join(dir, "m.json"))).toBe(false);
    }
  });

  it("passes the same build with stepwise's plugin loading every file", async () => {
    const dir = project(files);
    const r = await build(dir, opts, { manifest: "m.json" });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(existsSync(join(dir, "m.json"))).toBe(true);
  });
});
