/**
 * Every unplugin host reports what the esbuild plugin reports on the transformer's fixture
 * corpus: the default mode's errors and warnings, each at the place tspc names, and with
 * `typeCheck` the type-aware rules. Vite, Rollup, webpack and Rspack run in process with
 * the plugin from source; bun runs the corpus in one bun process with the built plugin.
 * The plugins print a diagnostic as `file(line,col): error SW1003 ...`; it is compared with
 * the fixture's diagnostics.txt (tsc's `error TS991003: SW1003 ...`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { build as viteBuild } from "vite";
import { rollup } from "rollup";
import webpack from "webpack";
import { rspack } from "@rspack/core";
import { syntacticDiagnostics, TYPED_PROJECT_FILES } from "../transformer/harness.js";
import { tempDir, writeFiles } from "../esbuild/harness.js";
import { mustSucceed, REPO, sh } from "./harness.js";
import viteStepwise from "../../transformer/plugins/vite.js";
import rollupStepwise from "../../transformer/plugins/rollup.js";
import webpackStepwise from "../../transformer/plugins/webpack.js";
import rspackStepwise from "../../transformer/plugins/rspack.js";
import type { StepwisePluginOptions } from "../../transformer/plugins/unplugin.js";

const FIXTURES = join(REPO, "test/transformer/fixtures");
const all = readdirSync(FIXTURES).filter((n) => /^sw1\d{3}-/.test(n)).sort();
const fileRules = all.filter((n) => /^sw100[35678]-/.test(n));
// The misuse rules (followed through calls by the checker) and their look-alikes, which no mode may report.
const callRules = [...all.filter((n) => !fileRules.includes(n)), ...readdirSync(FIXTURES).filter((n) => /^negatives-/.test(n)).sort()];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const fixtureFiles = (name: string) =>
  Object.fromEntries(readdirSync(join(FIXTURES, name)).filter((f) => f.endsWith(".ts")).map((f) => [f, readFileSync(join(FIXTURES, name, f), "utf8")]));
const expectedOf = (name: string) => readFileSync(join(FIXTURES, name, "diagnostics.txt"), "utf8").split("\n").filter(Boolean).sort();
// What the default mode must report of a fixture, when the fixture says exactly (as in the esbuild plugin's tests).
const syntacticOf = (name: string) => syntacticDiagnostics(join(FIXTURES, name));

/** A fixture in a folder; with `typed`, the stub package, globals and tsconfig typeCheck's program needs (as in the esbuild tests). */
function project(name: string, typed: boolean): { dir: string; entries: string[] } {
  const files = fixtureFiles(name);
  const dir = tempDir("stepwise-diag-");
  dirs.push(dir);
  writeFiles(dir, files);
  if (typed) writeFiles(dir, TYPED_PROJECT_FILES);
  return { dir, entries: Object.keys(files).sort() };
}

/** The plugin's lines in the fixtures' tsc shape. */
function tscLines(messages: string[]): string[] {
  const out: string[] = [];
  for (const m of messages)
    for (const l of m.split("\n")) {
      const x = /([\w./-]+\.tsx?\(\d+,\d+\)): (error|warning) SW(\d{4}) (.*)$/.exec(l);
      if (x) out.push(`${x[1]}: ${x[2]} TS99${x[3]}: SW${x[3]} ${x[4]}`);
    }
  return [...new Set(out)].sort();
}

const bare = (id: string) => !id.startsWith(".") && !isAbsolute(id) && !id.startsWith("\0");
type Host = (dir: string, entries: string[], opts: StepwisePluginOptions) => Promise<string[]>;

const stripTs = async (code: string, id: string) => {
  if (!id.endsWith(".ts")) return null;
  const { transform } = await import("esbuild");
  return (await transform(code, { loader: "ts", format: "esm" })).code;
};

const HOSTS: Record<string, Host> = {
  async rollup(dir, entries, opts) {
    const messages: string[] = [];
    try {
      const b = await rollup({
        input: entries.map((e) => join(dir, e)),
        external: bare,
        onwarn: (w) => void messages.push(w.message),
        plugins: [rollupStepwise({ ...opts, root: dir }), { name: "strip", transform: stripTs }],
      });
      await b.generate({ format: "es" });
      await b.close();
    } catch (e) {
      messages.push((e as Error).message);
    }
    return messages;
  },
  async vite(dir, entries, opts) {
    const messages: string[] = [];
    try {
      await viteBuild({
        root: dir, configFile: false, logLevel: "silent", plugins: [viteStepwise(opts)],
        build: { ssr: true, write: false, rollupOptions: { input: entries.map((e) => join(dir, e)), external: bare, onwarn: (w) => void messages.push(w.message) } },
      });
    } catch (e) {
      messages.push((e as Error).message);
    }
    return messages;
  },
  async webpack(dir, entries, opts) {
    return webpackLike("webpack", dir, entries, opts);
  },
  async rspack(dir, entries, opts) {
    return webpackLike("rspack", dir, entries, opts);
  },
};

async function webpackLike(tool: "webpack" | "rspack", dir: string, entries: string[], opts: StepwisePluginOptions): Promise<string[]> {
  const rule =
    tool === "rspack"
      ? { test: /\.ts$/, loader: "builtin:swc-loader", options: { jsc: { parser: { syntax: "typescript" } } }, type: "javascript/auto" }
      : { test: /\.ts$/, loader: join(REPO, "test/bundlers/strip-loader.mjs") };
  const config = {
    mode: "none" as const, context: dir, target: "node",
    entry: Object.fromEntries(entries.map((e) => [e.replace(/\.ts$/, ""), "./" + e])),
    output: { path: join(dir, "out") },
    resolve: { extensions: [".ts", ".js"], extensionAlias: { ".js": [".ts", ".js"] } },
    externals: [({ request }: { request?: string }, cb: (e?: Error | null, r?: string) => void) => (request && bare(request) ? cb(null, `commonjs ${request}`) : cb())],
    module: { rules: [rule] },
  };
  const compiler = tool === "rspack" ? rspack({ ...config, plugins: [rspackStepwise(opts)] } as never) : webpack({ ...config, plugins: [webpackStepwise(opts)] } as never);
  const stats = await new Promise<{ toJson(o: object): { errors?: { message: string }[]; warnings?: { message: string }[] } }>((res, rej) =>
    (compiler as webpack.Compiler).run((err, s) => (err ? rej(err) : res(s!))),
  );
  await new Promise((r) => (compiler as webpack.Compiler).close(r));
  const j = stats.toJson({ all: false, errors: true, warnings: true });
  return [...(j.errors ?? []), ...(j.warnings ?? [])].map((m) => m.message);
}

describe.each(Object.keys(HOSTS))("%s", (host) => {
  const run = HOSTS[host]!;

  it.each(fileRules)("%s: the same errors as tspc and esbuild, at the same places", async (name) => {
    const { dir, entries } = project(name, false);
    const expected = expectedOf(name);
    expect(expected.length).toBeGreaterThan(0);
    expect(tscLines(await run(dir, entries, {}))).toEqual(expected);
  });

  it.each(callRules)("%s: without typeCheck, the direct forms, and nothing tspc does not report", async (name) => {
    const { dir, entries } = project(name, false);
    const got = tscLines(await run(dir, entries, {}));
    const expected = expectedOf(name);
    const exact = syntacticOf(name);
    if (exact) expect(got).toEqual(exact);
    for (const d of got) expect(expected).toContain(d);
    if (name.startsWith("sw1004") || name.startsWith("negatives-")) expect(got).toEqual([]);
    else if (!exact) expect(got.length).toBeGreaterThan(0);
  });

  // The program per build is the same code for every host; all of the corpus under Rollup
  // (the quickest), and SW1004 (types only the checker sees) under each of the others.
  const typed = host === "rollup" ? callRules : callRules.filter((n) => n.startsWith("sw1004"));
  it.each(typed)("%s: with typeCheck, the same errors and warnings as tspc", async (name) => {
    const { dir, entries } = project(name, true);
    expect(tscLines(await run(dir, entries, { typeCheck: true, tsconfig: join(dir, "tsconfig.json") }))).toEqual(expectedOf(name));
  });
});

describe("bun", () => {
  let results: Record<string, string[]>;
  const modes = [...fileRules.map((n) => [n, false] as const), ...callRules.map((n) => [n, false] as const), ["sw1004-serializable", true] as const];

  beforeAll(() => {
    // One bun process builds every fixture with the built plugin (test/global-setup.ts builds dist/).
    const jobs = modes.map(([name, typed]) => ({ key: `${name}:${typed}`, ...project(name, typed), typed }));
    const script = join(dirs[0]!, "..", `stepwise-diag-bun-${process.pid}.mjs`);
    writeFileSync(
      script,
      `import stepwise from ${JSON.stringify(join(REPO, "dist/transformer/plugins/bun.js"))};
const out = {};
// unplugin's bun host prints a plugin's warnings with console.warn.
let warned = [];
console.warn = (...a) => void warned.push(a.map(String).join(" "));
for (const job of ${JSON.stringify(jobs)}) {
  const messages = [];
  const opts = job.typed ? { typeCheck: true, tsconfig: job.dir + "/tsconfig.json", root: job.dir } : { root: job.dir };
  try {
    const r = await Bun.build({ entrypoints: job.entries.map((e) => job.dir + "/" + e), target: "node", throw: false,
      packages: "external", plugins: [stepwise(opts)] });
    for (const l of r.logs) messages.push(String(l.message ?? l));
  } catch (e) { messages.push(String(e?.message ?? e)); }
  out[job.key] = [...messages, ...warned];
  warned = [];
}
console.log("RESULTS " + JSON.stringify(out));
`,
    );
    const stdout = mustSucceed(sh(join(REPO, "node_modules/.bin/bun"), [script], REPO), "bun diagnostics");
    rmSync(script, { force: true });
    results = JSON.parse(stdout.split("\n").find((l) => l.startsWith("RESULTS "))!.slice(8));
  }, 120_000);

  it.each(fileRules)("%s: the same errors as tspc and esbuild, at the same places", (name) => {
    expect(tscLines(results[`${name}:false`]!)).toEqual(expectedOf(name));
  });

  it.each(callRules)("%s: without typeCheck, the direct forms, and nothing tspc does not report", (name) => {
    const got = tscLines(results[`${name}:false`]!);
    const exact = syntacticOf(name);
    if (exact) expect(got).toEqual(exact);
    for (const d of got) expect(expectedOf(name)).toContain(d);
    if (name.startsWith("sw1004") || name.startsWith("negatives-")) expect(got).toEqual([]);
    else if (!exact) expect(got.length).toBeGreaterThan(0);
  });

  it("sw1004-serializable: with typeCheck, the same errors as tspc", () => {
    expect(tscLines(results["sw1004-serializable:true"]!)).toEqual(expectedOf("sw1004-serializable"));
  });
});
