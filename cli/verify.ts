/**
 * `stepwise verify <outdir|bundle> [-p tsconfig.json]`: fails, naming each tagged function
 * of the project's sources that the build at <outdir|bundle> emitted without the Stepwise
 * rewrite (transformer/verify.ts). For CI, after the build: a toolchain that skipped the
 * transform (a plain tsc, TypeScript 7's tsc, a bundler without the plugin) would ship
 * functions that look durable and are not.
 */
import type { Command } from "commander";
import type * as TS from "typescript";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { verifyBuild, type VerifyResult } from "../transformer/verify.js";
import { CheckConfigError } from "./check.js";

export interface VerifyOptions {
  /** The build: an output folder, or one bundle file. */
  output: string;
  /** tsconfig.json (or its folder) whose files are the sources (default ./tsconfig.json). */
  project?: string;
  cwd?: string;
}

export interface VerifyCommandResult extends VerifyResult {
  output: string;
  exitCode: 0 | 1;
}

export function runVerify(options: VerifyOptions): VerifyCommandResult {
  const ts = createRequire(import.meta.url)("typescript") as typeof TS;
  const cwd = options.cwd ?? process.cwd();
  const display = (f: string) => {
    const r = relative(cwd, f);
    return (r && !r.startsWith("..") && !isAbsolute(r) ? r : f).split(sep).join("/");
  };
  const out = resolve(cwd, options.output);
  if (!existsSync(out)) throw new CheckConfigError(`cannot find the build at ${display(out)}: build first, then pass its output folder or bundle file.`);
  const outputs = (statSync(out).isDirectory() ? jsFiles(out) : [out]).map((fileName) => ({ fileName, code: readFileSync(fileName, "utf8") }));
  if (outputs.length === 0) throw new CheckConfigError(`${display(out)} holds no .js, .mjs or .cjs file: pass the build's output folder or bundle file.`);
  const sources = sourceFiles(ts, options.project ?? "tsconfig.json", cwd).map((fileName) => ({ fileName, text: readFileSync(fileName, "utf8") }));
  const result = verifyBuild(ts, sources, outputs, display);
  const lines = result.problems.map((p) => `${display(p.fileName)}:${p.line}: error: ${p.message}`);
  const total = result.rewritten + result.problems.length;
  lines.push(
    result.problems.length === 0
      ? `stepwise verify: ${result.rewritten} tagged function${result.rewritten === 1 ? "" : "s"} rewritten in ${display(out)}` +
          (result.leftOut ? `; ${result.leftOut} not in the build` : "") + "."
      : `stepwise verify: ${result.problems.length} of ${total} tagged functions not rewritten in ${display(out)}. ` +
          `Add the Stepwise transform to the build: tspc with "plugins": [{ "transform": "stepwise/transformer" }], a Stepwise bundler plugin, ` +
          `or stepwise build on the emitted JavaScript (TypeScript 7).`,
  );
  return { ...result, output: lines.join("\n") + "\n", exitCode: result.problems.length > 0 ? 1 : 0 };
}

function jsFiles(dir: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules") continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) found.push(...jsFiles(p));
    else if (/\.[cm]?js$/.test(e.name)) found.push(p);
  }
  return found;
}

/** The project's own source files, from its tsconfig (what tsc would compile). */
export function sourceFiles(ts: typeof TS, project: string, cwd: string): string[] {
  let path = resolve(cwd, project);
  if (existsSync(path) && statSync(path).isDirectory()) path = join(path, "tsconfig.json");
  if (!existsSync(path)) throw new CheckConfigError(`cannot find ${path}: pass the project's tsconfig.json with -p.`);
  let problem: string | undefined;
  const parsed = ts.getParsedCommandLineOfConfigFile(path, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => (problem = ts.flattenDiagnosticMessageText(d.messageText, "\n")),
  });
  if (!parsed) throw new CheckConfigError(`cannot read ${path}: ${problem ?? "unknown error"}`);
  return parsed.fileNames.filter((f) => !/\.d\.[cm]?ts$/.test(f)).map((f) => resolve(f));
}

export function registerVerifyCommand(program: Command): void {
  program
    .command("verify")
    .description("fail if a build emitted a tagged step, workflow or transaction without the Stepwise rewrite")
    .argument("<output>", "the build: its output folder, or a bundle file")
    .option("-p, --project <path>", "tsconfig.json of the sources, or the folder holding it", "tsconfig.json")
    .action((output: string, opts: { project: string }) => {
      const result = runVerify({ output, project: opts.project });
      (result.exitCode ? process.stderr : process.stdout).write(result.output);
      process.exitCode = result.exitCode;
    });
}
