/**
 * The esbuild plugin's cache of rewritten files (transformer/esbuild/file-cache.ts). Every
 * build runs in a fresh node process, as a build script does: the second build of the
 * same sources must give the same bundle and the same messages without loading
 * TypeScript, and an edit, another TypeScript or a damaged entry must never be served.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { textSource } from "../../transformer/esbuild/file.js";
import { makeProject, REPO, tempDir, writeFiles } from "./harness.js";

const PLUGIN = join(REPO, "dist/transformer/esbuild.js");

interface Outcome {
  ok: boolean;
  bundle: string;
  errors: { text: string; location: unknown }[];
  warnings: { text: string; location: unknown }[];
  /** Whether the build process loaded the TypeScript compiler. */
  typescriptLoaded: boolean;
}

/** One build of src/main.ts in a new process; `pluginOptions` is a JS expression. */
function buildInFreshProcess(dir: string, pluginOptions: string): Outcome {
  const script = `
    import * as esbuild from "esbuild";
    import { createRequire } from "node:module";
    import { stepwise } from ${JSON.stringify(PLUGIN)};
    const require = createRequire(${JSON.stringify(PLUGIN)});
    const options = ${pluginOptions};
    let out;
    try {
      const r = await esbuild.build({ absWorkingDir: ${JSON.stringify(dir)}, entryPoints: ["src/main.ts"], bundle: true, format: "esm",
        platform: "node", external: ["stepwise"], write: false, logLevel: "silent", plugins: [stepwise(options)] });
      out = { ok: true, bundle: r.outputFiles[0].text, errors: r.errors, warnings: r.warnings };
    } catch (e) {
      out = { ok: false, bundle: "", errors: e.errors, warnings: e.warnings };
    }
    const strip = (m) => ({ text: m.text, location: m.location });
    out.errors = out.errors.map(strip);
    out.warnings = out.warnings.map(strip);
    out.typescriptLoaded = Object.keys(require.cache).some((k) => /[\\\\/]typescript[\\\\/]lib[\\\\/]typescript\\.js$/.test(k));
    console.log(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: REPO, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim()) as Outcome;
}

const STEPS = `import { Stepwise } from "stepwise";

/** @step { maxAttempts: 3, retriesAllowed: true } */
export async function charge(id: string): Promise<string> {
  return "ch_" + id;
}

/** @workflow */
export async function checkout(id: string) {
  const when = Date.now(); // SW1101: a warning, so the cached path must give messages back too
  return (await charge(id)) + when;
}
`;

function project(files: Record<string, string> = {}): { dir: string; cache: string } {
  const dir = makeProject(tempDir("stepwise-filecache-"), "module");
  writeFiles(dir, { "src/main.ts": `import { checkout } from "./steps.js";\nconsole.log(checkout);\n`, "src/steps.ts": STEPS, ...files });
  return { dir, cache: join(dir, "cache") };
}

const entries = (cache: string) => (existsSync(join(cache, "files")) ? readdirSync(join(cache, "files")).filter((f) => f.endsWith(".json")) : []);

describe("the esbuild plugin's file cache", () => {
  it("a second build in a new process gives the same bundle and messages without loading TypeScript", () => {
    const { dir, cache } = project();
    const first = buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    expect(first.ok).toBe(true);
    expect(first.typescriptLoaded).toBe(true);
    expect(first.bundle).toContain(`name: "charge", maxAttempts: 3, retriesAllowed: true`);
    expect(first.warnings.map((w) => w.text)).toEqual([expect.stringMatching(/^SW1101 /)]);
    expect(entries(cache)).toHaveLength(1);

    const second = buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    expect(second.typescriptLoaded).toBe(false);
    expect(second.bundle).toBe(first.bundle);
    // Same text and the same place: file, line, column, length and the line's text.
    expect(second.warnings).toEqual(first.warnings);
  });

  it("an edited file is transformed again", () => {
    const { dir, cache } = project();
    buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    writeFileSync(join(dir, "src/steps.ts"), STEPS.replace("maxAttempts: 3", "maxAttempts: 7"));
    const edited = buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    expect(edited.typescriptLoaded).toBe(true);
    expect(edited.bundle).toContain(`maxAttempts: 7`);
    expect(edited.bundle).not.toContain(`maxAttempts: 3`);
  });

  it("errors come back from the cache with their locations, and still fail the build", () => {
    const bad = `/** @step */\nexport function checkout(id: string) {\n  return id;\n}\n`;
    const { dir, cache } = project({ "src/steps.ts": bad });
    const first = buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    expect(first.ok).toBe(false);
    expect(first.errors[0]!.text).toMatch(/^SW1003 /);
    const second = buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    expect(second.ok).toBe(false);
    expect(second.typescriptLoaded).toBe(false);
    expect(second.errors).toEqual(first.errors);
  });

  it("another TypeScript is another key", () => {
    const { dir, cache } = project();
    buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    const other = `{ cacheDir: ${JSON.stringify(cache)}, typescript: { ...require("typescript"), version: "0.0.0-test" } }`;
    const r = buildInFreshProcess(dir, other);
    expect(r.ok).toBe(true);
    expect(entries(cache)).toHaveLength(2);
  });

  it("a damaged entry is a miss: the file is transformed again and the entry rewritten", () => {
    const { dir, cache } = project();
    const first = buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    for (const f of entries(cache)) writeFileSync(join(cache, "files", f), `{"format":1,"outcome":`);
    const again = buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`);
    expect(again.typescriptLoaded).toBe(true);
    expect(again.bundle).toBe(first.bundle);
    expect(buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`).typescriptLoaded).toBe(false);
  });

  it("a relative cacheDir is taken from the build's working directory", () => {
    const { dir } = project();
    // The build process runs in the repo; the cache must still land in the project.
    expect(buildInFreshProcess(dir, `{ cacheDir: "relative-cache" }`).ok).toBe(true);
    expect(entries(join(dir, "relative-cache"))).toHaveLength(1);
    expect(existsSync(join(REPO, "relative-cache"))).toBe(false);
  });

  it("past 5000 entries, the old ones go, down to half, and never the build's own", () => {
    const { dir, cache } = project();
    const files = join(cache, "files");
    mkdirSync(files, { recursive: true });
    const now = Date.now() / 1000;
    for (let i = 0; i < 5100; i++) {
      const f = join(files, `stale-${String(i).padStart(4, "0")}.json`);
      writeFileSync(f, "{}");
      // 100 of them 40 days old, the rest a day old or younger, older with a lower number.
      const age = i < 100 ? 40 * 86400 : 86400 - i;
      utimesSync(f, now - age, now - age);
    }
    expect(buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`).ok).toBe(true);
    const left = entries(cache);
    expect(left).toHaveLength(2500);
    expect(left.filter((f) => f.startsWith("stale-")).sort()[0]).toBe("stale-2601.json");
    expect(buildInFreshProcess(dir, `{ cacheDir: ${JSON.stringify(cache)} }`).typescriptLoaded).toBe(false);
  });

  it("cacheDir: false writes nothing", () => {
    const { dir, cache } = project();
    const r = buildInFreshProcess(dir, `{ cacheDir: false }`);
    expect(r.ok).toBe(true);
    expect(existsSync(cache)).toBe(false);
    expect(buildInFreshProcess(dir, `{ cacheDir: false }`).typescriptLoaded).toBe(true);
  });
});

describe("textSource: a file's lines without a parse, as diagnostics from the esbuild plugin's cache read them", () => {
  it("agrees with TypeScript's SourceFile on every position, whatever the line breaks", () => {
    const text = "a\r\nbb\n\nccc\u2028dd\reee\u2029f\r\n\r\nlast line, no break";
    const sf = ts.createSourceFile("/proj/x.ts", text, ts.ScriptTarget.Latest);
    const mine = textSource("/proj/x.ts", text);
    for (let pos = 0; pos <= text.length; pos++) {
      expect(mine.getLineAndCharacterOfPosition(pos), `position ${pos}`).toEqual(sf.getLineAndCharacterOfPosition(pos));
      expect(mine.getLineEndOfPosition(pos), `line end at ${pos}`).toBe(sf.getLineEndOfPosition(pos));
    }
  });
});
