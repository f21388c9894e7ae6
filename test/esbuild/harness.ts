/**
 * Shared by the esbuild tests: in-process builds with the plugin (from source), and
 * project directories whose node_modules resolves "stepwise" to this repo.
 */
import * as esbuild from "esbuild";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stepwise, type StepwiseEsbuildOptions } from "../../transformer/esbuild.js";

export const REPO = resolve(import.meta.dirname, "../..");
export const BIN = join(REPO, "node_modules/.bin");

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes `files` (relative path -> text) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** A project directory whose node_modules resolves "stepwise" (and its drivers) to this repo. */
export function makeProject(dir: string, type: "module" | "commonjs", src?: string): string {
  mkdirSync(join(dir, "node_modules/@types"), { recursive: true });
  if (src) cpSync(src, join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "fixture", private: true, type }));
  symlinkSync(REPO, join(dir, "node_modules/stepwise"));
  symlinkSync(join(REPO, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
  symlinkSync(join(REPO, "node_modules/@electric-sql"), join(dir, "node_modules/@electric-sql"));
  symlinkSync(join(REPO, "node_modules/pg"), join(dir, "node_modules/pg"));
  // The embedded database's file lock, a native addon loaded from node_modules at run time.
  symlinkSync(join(REPO, "node_modules/fs-native-extensions"), join(dir, "node_modules/fs-native-extensions"));
  return dir;
}

export interface BuildOutcome {
  ok: boolean;
  errors: esbuild.Message[];
  warnings: esbuild.Message[];
  /** Output files by path relative to the working directory (write: false). */
  outputs: Map<string, string>;
}

/** One build with the plugin first and, optionally, more plugins after it; never throws. */
export async function build(
  dir: string,
  opts: esbuild.BuildOptions,
  pluginOptions: StepwiseEsbuildOptions | false = {},
  after: esbuild.Plugin[] = [],
): Promise<BuildOutcome> {
  const plugins = [...(pluginOptions === false ? [] : [stepwise(pluginOptions)]), ...after];
  try {
    const r = await esbuild.build({ absWorkingDir: dir, write: false, logLevel: "silent", outdir: "out", plugins, ...opts });
    return { ok: true, errors: r.errors, warnings: r.warnings, outputs: outputsOf(dir, r.outputFiles) };
  } catch (e) {
    const f = e as esbuild.BuildFailure;
    if (!Array.isArray(f.errors)) throw e;
    return { ok: false, errors: f.errors, warnings: f.warnings, outputs: new Map() };
  }
}

export function outputsOf(dir: string, files: esbuild.OutputFile[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of files ?? []) m.set(f.path.slice(dir.length + 1), f.text);
  return m;
}

/** esbuild's message in tsc's shape, to compare with the transformer fixtures' diagnostics.txt. */
export function tscStyle(m: esbuild.Message, category: "error" | "warning" = "error"): string {
  const l = m.location!;
  // esbuild drops a plugin's message id; the SW code leads the text.
  return `${l.file}(${l.line},${l.column + 1}): ${category} TS${990000 + Number(m.text.slice(2, 6))}: ${m.text}`;
}

export function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

export function mustSucceed(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The JSON after `prefix ` on the first line of a test program's output that starts with it. */
export function outputLine(out: string, prefix: string): unknown {
  const l = out.split("\n").find((x) => x.startsWith(prefix + " "));
  if (!l) throw new Error(`no ${prefix} line in:\n${out}`);
  return JSON.parse(l.slice(prefix.length + 1));
}

/** The side effects a test program logged, one per line, in `dir`/effects.log. */
export function effectsIn(dir: string): string[] {
  const p = join(dir, "effects.log");
  return existsSync(p) ? readFileSync(p, "utf8").split("\n").filter(Boolean) : [];
}
