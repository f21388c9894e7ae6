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
import { join } from "node:path";
import stepwiseTransformer from "../../transformer/tsc.js";
import { analyzeFile, analyzeProgram, createBeforeTransformer, formatDiagnostic, type SwDiagnostic } from "../../transformer/core/index.js";

export const FIXTURES = join(import.meta.dirname, "fixtures");
const ROOT = "/proj";

/** The package as a user's program sees it: just enough declarations to resolve the markers. */
const STEPWISE_DTS = `
export interface Config { name?: string; [k: string]: unknown }
export declare function step<F extends (...a: any[]) => Promise<any>>(fn: F, config?: Config): F;
export declare function workflow<F extends (...a: any[]) => Promise<any>>(fn: F, config?: Config): F;
export declare function transaction<F extends (...a: any[]) => Promise<any>>(fn: F, config?: Config): F;
export declare const Stepwise: { launch(): Promise<void> };
`;

export interface FixtureOptions {
  module?: "esnext" | "commonjs";
  transpileOnly?: boolean;
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
    // No lib: the fixtures need symbols, not types, and this keeps each case fast.
    noLib: true,
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
  const outputs = new Map<string, string>();
  const host: ts.CompilerHost = {
    // What tsc does since 5.3: most JSDoc is not parsed, so tags must be read from comment text.
    jsDocParsingMode: ts.JSDocParsingMode.ParseForTypeErrors,
    getSourceFile: (f, lang) => {
      const text = virtual.get(f);
      return text === undefined ? undefined : ts.createSourceFile(f, text, lang, false);
    },
    getDefaultLibFileName: () => "/lib.d.ts",
    writeFile: (f, text) => {
      if (f.endsWith(".js")) outputs.set(f.slice(ROOT.length + 1).replace(/\.js$/, ".ts"), text);
    },
    getCurrentDirectory: () => ROOT,
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => "\n",
    fileExists: (f) => virtual.has(f),
    readFile: (f) => virtual.get(f),
    directoryExists: (d) => [...virtual.keys()].some((k) => k.startsWith(d + "/")),
    getDirectories: () => [],
  };
  const program = ts.createProgram({ rootNames: [...files.keys()].map((n) => `${ROOT}/${n}`), options, host });
  const syntax = program.getSyntacticDiagnostics();
  if (syntax.length > 0) throw new Error(ts.formatDiagnostics(syntax, host));
  const added: ts.Diagnostic[] = [];
  let transformers: ts.CustomTransformers | undefined;
  if (!plain) {
    const factory = stepwiseTransformer(program, {}, { ts, addDiagnostic: (d) => added.push(d) });
    transformers = { before: [factory] };
  }
  program.emit(undefined, undefined, undefined, false, transformers);
  const diagnostics = added.map((d) => {
    const { line, character } = d.file!.getLineAndCharacterOfPosition(d.start!);
    return `${d.file!.fileName.slice(ROOT.length + 1)}(${line + 1},${character + 1}): error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
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
