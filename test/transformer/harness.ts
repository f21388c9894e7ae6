/**
 * Runs one fixture folder: every *.ts in it is compiled in one in-memory program with
 * the stepwise transformer (through the real tspc entry, transformer/tsc.ts), and the
 * emitted JavaScript and the diagnostics are compared with the files beside it:
 *
 *   input.ts            the source (more *.ts files may sit beside it)
 *   output.js           expected output of input.ts (other.ts -> other.output.js)
 *   diagnostics.txt     expected diagnostics, one per line, tsc style (empty: none)
 *   options.json        optional: { "module": "commonjs", "transpileOnly": true }
 *
 * UPDATE_FIXTURES=1 rewrites the expected files from what the compiler produces.
 */
import ts from "typescript";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import stepwiseTransformer from "../../transformer/tsc.js";
import { analyzeFile, analyzeProgram, createBeforeTransformer, formatDiagnostic, type SwDiagnostic } from "../../transformer/core/index.js";

export const FIXTURES = join(import.meta.dirname, "fixtures");
const ROOT = "/proj";
// A rule that throws is skipped in a user's build; here it must fail the test.
process.env.STEPWISE_DEBUG_RULES ??= "1";

/** The package as a user's program sees it: just enough declarations to resolve the markers. */
export const STEPWISE_DTS = `
export interface Config { name?: string; [k: string]: unknown }
export declare function step<F extends (...a: any[]) => Promise<any>>(fn: F, config?: Config): F;
export declare function workflow<F extends (...a: any[]) => Promise<any>>(fn: F, config?: Config): F;
export declare function transaction<F extends (...a: any[]) => Promise<any>>(fn: F, config?: Config): F;
export declare class Stepwise {
  static launch(): Promise<void>;
  static send(destinationID: string, message: unknown, topic?: string): Promise<void>;
  static recv<T = unknown>(topic?: string, timeoutSeconds?: number): Promise<T | null>;
  static setEvent(key: string, value: unknown): Promise<void>;
  static getEvent<T = unknown>(workflowID: string, key: string, timeoutSeconds?: number): Promise<T | null>;
  static sleep(ms: number): Promise<void>;
  static now(): Promise<number>;
  static randomUUID(): Promise<string>;
  static startWorkflow<F extends (...a: any[]) => Promise<any>>(wf: F, options?: { workflowID?: string; queue?: Queue | string }): (...args: any[]) => Promise<{ workflowID: string }>;
  static runStep<T>(fn: () => Promise<T>, config: Config & { name: string }): Promise<T>;
  static enqueue(workflowName: string, options?: { workflowID?: string; queue?: Queue | string }, ...args: unknown[]): Promise<{ workflowID: string }>;
  static registerClass(cls: new (...args: never[]) => unknown, name?: string): void;
}
export declare class Queue { constructor(name: string); readonly name: string }
`;

/** The few web/Node globals the rule fixtures call, instead of all of lib.dom (slow to bind). */
export const GLOBALS_DTS = `
declare function fetch(input: string): Promise<{ status: number; text(): Promise<string> }>;
declare function setTimeout(fn: () => void, ms?: number): unknown;
declare function setInterval(fn: () => void, ms?: number): unknown;
declare var performance: { now(): number };
declare var crypto: { randomUUID(): string; getRandomValues<T extends ArrayBufferView>(a: T): T };
`;

export interface FixtureOptions {
  module?: "esnext" | "commonjs";
  transpileOnly?: boolean;
  /** Compile against the standard library (ES2022, plus the web globals below), for rules that look at types and globals. */
  lib?: boolean;
  /**
   * What esbuild's default mode (no type checker) must report: "same" as tspc, exactly.
   * Otherwise diagnostics.syntactic.txt, when present, holds its exact diagnostics, and
   * without either it must report a part of tspc's (test/esbuild/plugin.test.ts).
   */
  syntactic?: "same";
}

const LIB_DIR = dirname(ts.getDefaultLibFilePath({}));
// Library files parsed once for all fixtures that ask for them.
const libFiles = new Map<string, ts.SourceFile>();
function libFile(f: string, lang: ts.ScriptTarget | ts.CreateSourceFileOptions): ts.SourceFile | undefined {
  let sf = libFiles.get(f);
  if (!sf && ts.sys.fileExists(f)) {
    sf = ts.createSourceFile(f, ts.sys.readFile(f)!, lang, false);
    libFiles.set(f, sf);
  }
  return sf;
}

export interface FixtureResult {
  outputs: Map<string, string>;
  diagnostics: string[];
  /** Input files the analysis found something to rewrite in. */
  rewritten: Set<string>;
}

export function fixtureNames(): string[] {
  return readdirSync(FIXTURES).filter((n) => existsSync(join(FIXTURES, n, "input.ts"))).sort();
}

export function readOptions(dir: string): FixtureOptions {
  const p = join(dir, "options.json");
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as FixtureOptions) : {};
}

/**
 * The files a fixture needs beside its own to be type-checked as on disk (a host's
 * `typeCheck` mode): the stub package, the web globals and a tsconfig over *.ts.
 */
export const TYPED_PROJECT_FILES: Readonly<Record<string, string>> = {
  "__globals.d.ts": GLOBALS_DTS,
  "node_modules/stepwise/package.json": JSON.stringify({ name: "stepwise", types: "index.d.ts" }),
  "node_modules/stepwise/index.d.ts": STEPWISE_DTS,
  "tsconfig.json": JSON.stringify({
    compilerOptions: { target: "ES2022", module: "ESNext", moduleResolution: "Bundler", strict: true, lib: ["es2022"], types: [], noEmit: true },
    include: ["*.ts"],
  }),
};

/** A fixture's expected diagnostics (diagnostics.txt), sorted. */
export function expectedDiagnostics(dir: string): string[] {
  return readFileSync(join(dir, "diagnostics.txt"), "utf8").split("\n").filter(Boolean).sort();
}

/** What a host's default mode (no type checker) must report exactly, when the fixture says (FixtureOptions.syntactic). */
export function syntacticDiagnostics(dir: string): string[] | undefined {
  if (readOptions(dir).syntactic === "same") return expectedDiagnostics(dir);
  const p = join(dir, "diagnostics.syntactic.txt");
  return existsSync(p) ? readFileSync(p, "utf8").split("\n").filter(Boolean).sort() : undefined;
}

export function inputFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const n of readdirSync(dir).sort()) if (n.endsWith(".ts")) files.set(n, readFileSync(join(dir, n), "utf8"));
  return files;
}

export function expectedName(tsName: string): string {
  return tsName === "input.ts" ? "output.js" : tsName.replace(/\.ts$/, ".output.js");
}

function compilerOptions(opts: FixtureOptions): ts.CompilerOptions {
  const cjs = opts.module === "commonjs";
  return {
    target: ts.ScriptTarget.ES2022,
    module: cjs ? ts.ModuleKind.CommonJS : ts.ModuleKind.ESNext,
    moduleResolution: cjs ? ts.ModuleResolutionKind.Node10 : ts.ModuleResolutionKind.Bundler,
    strict: true,
    // No lib unless asked: most fixtures need symbols, not types, and this keeps each case fast.
    ...(opts.lib ? { lib: ["lib.es2022.d.ts"] } : { noLib: true }),
    types: [],
    newLine: ts.NewLineKind.LineFeed,
    esModuleInterop: cjs,
  };
}

/** Compiles with the transformer, or without it (`plain`) for byte-for-byte comparisons. */
export function compile(files: Map<string, string>, opts: FixtureOptions = {}, plain = false): FixtureResult {
  if (opts.transpileOnly) return transpile(files, opts, plain);
  const options = compilerOptions(opts);
  const virtual = new Map<string, string>();
  for (const [n, text] of files) virtual.set(`${ROOT}/${n}`, text);
  virtual.set(`${ROOT}/node_modules/stepwise/package.json`, JSON.stringify({ name: "stepwise", types: "index.d.ts" }));
  virtual.set(`${ROOT}/node_modules/stepwise/index.d.ts`, STEPWISE_DTS);
  if (opts.lib) virtual.set(`${ROOT}/__globals.d.ts`, GLOBALS_DTS);
  const outputs = new Map<string, string>();
  const host: ts.CompilerHost = {
    // What tsc does since 5.3: most JSDoc is not parsed, so tags must be read from comment text.
    jsDocParsingMode: ts.JSDocParsingMode.ParseForTypeErrors,
    getSourceFile: (f, lang) => {
      const text = virtual.get(f);
      if (text === undefined) return opts.lib ? libFile(f, lang) : undefined;
      return ts.createSourceFile(f, text, lang, false);
    },
    getDefaultLibFileName: (o) => (opts.lib ? ts.getDefaultLibFilePath(o) : "/lib.d.ts"),
    writeFile: (f, text) => {
      if (f.endsWith(".js")) outputs.set(f.slice(ROOT.length + 1).replace(/\.js$/, ".ts"), text);
    },
    getCurrentDirectory: () => ROOT,
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => "\n",
    fileExists: (f) => virtual.has(f) || (!!opts.lib && f.startsWith(LIB_DIR) && ts.sys.fileExists(f)),
    readFile: (f) => virtual.get(f),
    directoryExists: (d) => [...virtual.keys()].some((k) => k.startsWith(d + "/")),
    getDirectories: () => [],
  };
  const rootNames = [...files.keys()].map((n) => `${ROOT}/${n}`);
  if (opts.lib) rootNames.push(`${ROOT}/__globals.d.ts`);
  const program = ts.createProgram({ rootNames, options, host });
  const syntax = program.getSyntacticDiagnostics();
  if (syntax.length > 0) throw new Error(ts.formatDiagnostics(syntax, host));
  const added: ts.Diagnostic[] = [];
  let transformers: ts.CustomTransformers | undefined;
  if (!plain) {
    const factory = stepwiseTransformer(program, { warnings: "diagnostics" }, { ts, addDiagnostic: (d) => added.push(d) });
    transformers = { before: [factory] };
  }
  program.emit(undefined, undefined, undefined, false, transformers);
  const diagnostics = added.map((d) => {
    const { line, character } = d.file!.getLineAndCharacterOfPosition(d.start!);
    return `${d.file!.fileName.slice(ROOT.length + 1)}(${line + 1},${character + 1}): ${d.category === ts.DiagnosticCategory.Warning ? "warning" : "error"} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
  const rewritten = new Set(
    [...analyzeProgram(ts, program).files.values()].filter((a) => a.operations.length > 0).map((a) => a.sf.fileName.slice(ROOT.length + 1)),
  );
  return { outputs, diagnostics, rewritten };
}

function transpile(files: Map<string, string>, opts: FixtureOptions, plain: boolean): FixtureResult {
  const outputs = new Map<string, string>();
  const diagnostics: string[] = [];
  const rewritten = new Set<string>();
  for (const [name, text] of files) {
    const found: SwDiagnostic[] = [];
    let sf: ts.SourceFile | undefined;
    const before: ts.TransformerFactory<ts.SourceFile>[] = plain
      ? []
      : [
          (ctx) => {
            const inner = createBeforeTransformer(ts, undefined, (_f, ds) => found.push(...ds))(ctx);
            return (file) => {
              sf = file;
              return inner(file);
            };
          },
        ];
    const out = ts.transpileModule(text, {
      fileName: name,
      compilerOptions: { ...compilerOptions(opts), noLib: false },
      transformers: { before },
    });
    outputs.set(name, out.outputText);
    if (analyzeFile(ts, ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true)).operations.length > 0) rewritten.add(name);
    for (const d of found) diagnostics.push(formatDiagnostic(d, sf!, name));
  }
  return { outputs, diagnostics, rewritten };
}

export function runFixture(name: string): { actual: FixtureResult; dir: string; files: Map<string, string> } {
  const dir = join(FIXTURES, name);
  const files = inputFiles(dir);
  const actual = compile(files, readOptions(dir));
  if (process.env.UPDATE_FIXTURES) {
    for (const n of files.keys()) writeFileSync(join(dir, expectedName(n)), actual.outputs.get(n) ?? "");
    writeFileSync(join(dir, "diagnostics.txt"), actual.diagnostics.map((d) => d + "\n").join(""));
  }
  return { actual, dir, files };
}
