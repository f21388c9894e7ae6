/**
 * `stepwise check [-p tsconfig.json] [--format json]`: Stepwise's compile-time rules
 * (SW1001-SW1102) over a TypeScript project, with no emit, for CI and for projects whose
 * own compiler has no transformer API (TypeScript 7). It type-checks with this package's
 * own TypeScript (5.9), whatever version the project builds with.
 *
 * Output is tsc's: `src/a.ts(12,5): error SW1001: ...`, one line per diagnostic, paths
 * relative to the current directory. Exit 1 on any error; warnings alone exit 0.
 * TypeScript's own type errors are not reported: that is the project compiler's job.
 */
import type { Command } from "commander";
import type * as TS from "typescript";
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { analyzeProgram, type SwDiagnostic } from "../transformer/core/index.js";
import { escapeControl } from "./terminal.js";

export interface CheckOptions {
  /** tsconfig.json, or the folder holding it (default: ./tsconfig.json). */
  project?: string;
  format?: "text" | "json";
  cwd?: string;
}

export interface CheckDiagnostic {
  file: string;
  line: number;
  column: number;
  length: number;
  code: string;
  category: "error" | "warning";
  message: string;
  related?: { file: string; line: number; column: number; message: string }[];
}

export interface CheckResult {
  diagnostics: CheckDiagnostic[];
  /** tsconfig.json problems that did not stop the check (printed to stderr). */
  notes: string[];
  /** What the command prints (empty when there is nothing to report in text form). */
  output: string;
  exitCode: 0 | 1;
}

export class CheckConfigError extends Error {}

// Loaded on first use: the other commands should not pay for the compiler (half a second).
let tsInstance: typeof TS | undefined;
function typescript(): typeof TS {
  return (tsInstance ??= createRequire(import.meta.url)("typescript") as typeof TS);
}

/** Reads the project, runs every rule, and formats the result; prints nothing. */
export function runCheck(options: CheckOptions = {}): CheckResult {
  const ts = typescript();
  const cwd = options.cwd ?? process.cwd();
  const notes: string[] = [];
  const program = createProgram(ts, resolveConfig(options.project ?? "tsconfig.json", cwd), notes);
  const display = (f: string) => {
    const r = relative(cwd, f);
    return (r && !r.startsWith("..") && !isAbsolute(r) ? r : f).split(sep).join("/");
  };
  const analysis = analyzeProgram(ts, program, display);
  const place = (fileName: string, start: number) => {
    const sf = program.getSourceFile(fileName);
    const lc = sf ? sf.getLineAndCharacterOfPosition(start) : { line: 0, character: 0 };
    return { file: display(fileName), line: lc.line + 1, column: lc.character + 1 };
  };
  const diagnostics = analysis.diagnostics
    .map((d: SwDiagnostic): CheckDiagnostic => ({
      ...place(d.fileName, d.start),
      length: d.length,
      code: d.code,
      category: d.category,
      message: d.message,
      ...(d.related?.length ? { related: d.related.map((r) => ({ ...place(r.fileName, r.start), message: r.message })) } : {}),
    }))
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.code.localeCompare(b.code));
  const exitCode = diagnostics.some((d) => d.category === "error") ? 1 : 0;
  const output =
    options.format === "json"
      ? JSON.stringify(diagnostics, null, 2) + "\n"
      : diagnostics.map((d) => `${d.file}(${d.line},${d.column}): ${d.category} ${d.code}: ${d.message}\n`).join("");
  return { diagnostics, notes, output, exitCode };
}

function resolveConfig(project: string, cwd: string): string {
  let path = resolve(cwd, project);
  if (existsSync(path) && statSync(path).isDirectory()) path = resolve(path, "tsconfig.json");
  if (!existsSync(path)) {
    throw new CheckConfigError(`cannot find ${display(path, cwd)}: pass the project's tsconfig.json with -p (stepwise check -p path/to/tsconfig.json).`);
  }
  return path;
}

function display(path: string, cwd: string): string {
  const r = relative(cwd, path);
  return r && !r.startsWith("..") ? r : path;
}

/**
 * Option problems TypeScript 5.9 finds in a config written for a newer compiler (an option
 * or value it does not know, one it has removed): noted, and the check goes on.
 */
const NEWER_COMPILER_OPTION_CODES = new Set([5023, 5024, 5025, 5101, 5102, 5107, 5108, 5110, 6046]);

function createProgram(ts: typeof TS, configPath: string, notes: string[]): TS.Program {
  const problems: TS.Diagnostic[] = [];
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, { noEmit: true }, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => problems.push(d),
  });
  const errors = [...problems, ...(parsed?.errors ?? [])].filter((d) => d.category === ts.DiagnosticCategory.Error);
  const format = (ds: TS.Diagnostic[]) =>
    ts.formatDiagnostics(ds, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => dirname(configPath), getNewLine: () => "\n" }).trim();
  const fatal = errors.filter((d) => !NEWER_COMPILER_OPTION_CODES.has(d.code));
  if (!parsed || fatal.length > 0) throw new CheckConfigError(`cannot read ${configPath}:\n${format(fatal.length ? fatal : errors)}`);
  const tolerated = errors.filter((d) => NEWER_COMPILER_OPTION_CODES.has(d.code));
  if (tolerated.length > 0) {
    notes.push(`note: TypeScript ${ts.version} (used by stepwise check) does not understand some options of ${configPath}; checking without them:\n${format(tolerated)}`);
  }
  const host = ts.createCompilerHost(parsed.options, true);
  // What tsc does since 5.3: JSDoc is parsed only where type errors need it (the rules read
  // tags from comment text), which saves a good share of parse time.
  host.jsDocParsingMode = ts.JSDocParsingMode.ParseForTypeErrors;
  return ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, projectReferences: parsed.projectReferences, host });
}

export function registerCheckCommand(program: Command): void {
  program
    .command("check")
    .description("report Stepwise's compile-time rules (SW1xxx) for a TypeScript project, without emitting; exit 1 on any error")
    .option("-p, --project <path>", "tsconfig.json, or the folder holding it", "tsconfig.json")
    .option("--format <format>", "text (tsc style) or json", "text")
    .action((opts: { project: string; format: string }) => {
      if (opts.format !== "text" && opts.format !== "json") throw new Error(`--format must be text or json, got '${opts.format}'`);
      const result = runCheck({ project: opts.project, format: opts.format });
      for (const note of result.notes) process.stderr.write(escapeControl(note) + "\n");
      process.stdout.write(escapeControl(result.output));
      process.exitCode = result.exitCode;
    });
}
