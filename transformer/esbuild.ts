/**
 * The esbuild host:
 *
 *   import { stepwise } from "stepwise/esbuild";
 *   await esbuild.build({ entryPoints: ["src/main.ts"], bundle: true, plugins: [stepwise()] });
 *
 * An onLoad plugin over the same core as tspc. A file whose text mentions no tag and not
 * the package is returned to esbuild untouched (the callback returns undefined), so a
 * project with few steps pays one text test per file. A file with markers is parsed,
 * analysed and rewritten by the core, printed back as TypeScript with an inline source
 * map (which esbuild composes with its own, so a minified bundle still maps to the .ts
 * line), and handed to esbuild with the loader it would have used anyway.
 *
 * TypeScript (a dependency of this package) is loaded on the first file that needs it.
 */
import type * as ts from "typescript";
import type { Loader, Message, OnLoadResult, PartialMessage, Plugin, PluginBuild } from "esbuild";
import { readFile } from "node:fs/promises";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, extname, isAbsolute, relative, resolve, sep } from "node:path";
import type { TS } from "./core/ts.js";
import {
  analyzeFile,
  analyzeProgram,
  buildManifest,
  checkRules,
  findDuplicates,
  messageText,
  mightContainMarkers,
  rewriteFile,
  type FileAnalysis,
  type ProgramAnalysis,
  type SwDiagnostic,
} from "./core/index.js";
import type { IdEntry } from "./core/ids.js";

export interface StepwiseEsbuildOptions {
  /**
   * Also run the rules that need the type checker (SW1004, and SW1001/SW1002 followed
   * through helper calls), and resolve markers re-exported through your own modules.
   * Builds one ts.Program per build from the tsconfig (reused across watch rebuilds).
   * Default false: the syntactic rules only, no program.
   */
  typeCheck?: boolean;
  /** The tsconfig for `typeCheck` (default: esbuild's `tsconfig` option, else tsconfig.json in the working directory). */
  tsconfig?: string;
  /** Write the manifest of the bundle's steps and workflows to this path (relative to the working directory). */
  manifest?: string;
  /** Also transform files under node_modules (default false: packages ship already-built code). */
  includeNodeModules?: boolean;
  /** The TypeScript instance to use (default: `import("typescript")`, resolved from this package). */
  typescript?: TS;
}

const FILTER = /\.(?:[cm]?tsx?|[cm]?jsx?)$/;

/** The plugin. Options: see StepwiseEsbuildOptions. */
export function stepwise(options: StepwiseEsbuildOptions = {}): Plugin {
  return {
    name: "stepwise",
    setup(build) {
      setupStepwise(build, options);
    },
  };
}

export default stepwise;

/** What one file's onLoad produced; kept across watch rebuilds while the text is unchanged. */
interface FileResult {
  text: string;
  /** undefined: hand the file to esbuild untouched. */
  contents?: string;
  loader?: Loader;
  diagnostics: SwDiagnostic[];
  ids: IdEntry[];
  sf?: ts.SourceFile;
}

function setupStepwise(build: PluginBuild, options: StepwiseEsbuildOptions): void {
  const cwd = build.initialOptions.absWorkingDir ?? process.cwd();
  const display = (f: string) => {
    const rel = relative(cwd, f);
    return (rel.startsWith("..") || isAbsolute(rel) ? f : rel).split(sep).join("/");
  };
  let tsi: TS | undefined = options.typescript;
  const loadTs = async (): Promise<TS> => (tsi ??= await importTypeScript());

  // Syntactic results by path, reused by watch rebuilds for files whose text is unchanged.
  const cache = new Map<string, FileResult>();
  let program: ProgramState | undefined;
  // Per build: every ID defined by the files loaded so far, for SW1006 across the bundle.
  let ids = new Map<string, IdEntry>();
  let sources = new Map<string, ts.SourceFile>();
  let watchSent = false;

  build.onStart(async () => {
    ids = new Map();
    sources = new Map();
    watchSent = false;
    if (!options.typeCheck) return undefined;
    try {
      program = updateProgram(await loadTs(), program, options.tsconfig ?? build.initialOptions.tsconfig, cwd, display);
    } catch (e) {
      return { errors: [{ text: (e as Error).message }] };
    }
    return undefined;
  });

  build.onLoad({ filter: FILTER, namespace: "file" }, async (args): Promise<OnLoadResult | undefined> => {
    const result = await load(args);
    // The program's files (and tsconfig), so watch mode rebuilds when a file the rules read
    // changes, even one the bundle never loads (types, type-only imports).
    if (!program || watchSent) return result;
    watchSent = true;
    return { ...result, watchFiles: program.watchFiles };
  });

  const load = async (args: { path: string; suffix?: string }): Promise<OnLoadResult | undefined> => {
    if (!options.includeNodeModules && args.path.split(/[\\/]/).includes("node_modules")) return undefined;
    if (args.suffix) return undefined;
    const text = await readFile(args.path, "utf8");
    const fromProgram = program?.files.get(args.path);
    let result: FileResult;
    if (fromProgram && fromProgram.sf.text === text) {
      if (hasSyntaxErrors(fromProgram.sf)) return undefined;
      // Checker-resolved markers and the type-aware rules, from this build's program.
      result = transform(await loadTs(), fromProgram.sf, fromProgram.analysis, text, program, build);
    } else {
      // The cheap path: no tag and no mention of the package, nothing to do.
      if (!mightContainMarkers(text)) return undefined;
      const cached = cache.get(args.path);
      if (cached && cached.text === text) result = cached;
      else {
        const t = await loadTs();
        const sf = parse(t, args.path, text);
        // A file that does not parse is left to esbuild, which reports the syntax error where it is.
        if (hasSyntaxErrors(sf)) return undefined;
        result = transform(t, sf, analyzeFile(t, sf), text, undefined, build);
        cache.set(args.path, result);
      }
    }
    if (result.sf) sources.set(result.sf.fileName, result.sf);
    const diagnostics = [...result.diagnostics, ...duplicatesAcrossBundle(result.ids, ids, display)];
    if (diagnostics.length === 0 && result.contents === undefined) return undefined;
    const sfOf = (f: string) => sources.get(f);
    const errors = diagnostics.filter((d) => d.category === "error").map((d) => toMessage(d, sfOf, display));
    const warnings: PartialMessage[] = diagnostics.filter((d) => d.category === "warning").map((d) => toMessage(d, sfOf, display));
    if (program && !fromProgram && result.contents !== undefined)
      warnings.push({
        text:
          `stepwise: typeCheck: ${display(args.path)} is not in the program of ${display(program.configPath)}, so its steps were checked ` +
          `without the type checker; add it to that tsconfig's "include", or pass stepwise({ typeCheck: true, tsconfig }) for one that has it.`,
      });
    if (errors.length > 0) return { errors, warnings };
    // Warnings alone on an untouched file: hand esbuild the text with the loader it would have picked.
    return { contents: result.contents ?? text, loader: result.loader ?? defaultLoader(args.path, build), warnings };
  };

  if (options.manifest) {
    const out = resolve(cwd, options.manifest);
    build.onEnd((res) => {
      if (res.errors.length > 0) return;
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify(buildManifest([...ids.values()], display), null, 2) + "\n");
    });
  }
}

// ---- one file ---------------------------------------------------------------------------

function parse(tsi: TS, fileName: string, text: string): ts.SourceFile {
  // Tags are read from comment text, so JSDoc need not be parsed (it is the slow part).
  return tsi.createSourceFile(
    fileName,
    text,
    { languageVersion: tsi.ScriptTarget.Latest, jsDocParsingMode: tsi.JSDocParsingMode.ParseNone },
    true,
    scriptKind(tsi, fileName),
  );
}

function hasSyntaxErrors(sf: ts.SourceFile): boolean {
  return ((sf as unknown as { parseDiagnostics?: unknown[] }).parseDiagnostics?.length ?? 0) > 0;
}

function scriptKind(tsi: TS, fileName: string): ts.ScriptKind {
  const ext = extname(fileName);
  if (ext === ".tsx") return tsi.ScriptKind.TSX;
  if (ext === ".jsx") return tsi.ScriptKind.JSX;
  if (/^\.[cm]?js$/.test(ext)) return tsi.ScriptKind.JS;
  return tsi.ScriptKind.TS;
}

function transform(
  tsi: TS,
  sf: ts.SourceFile,
  analysis: FileAnalysis,
  text: string,
  program: ProgramState | undefined,
  build: PluginBuild,
): FileResult {
  const diagnostics = [...analysis.diagnostics, ...ruleDiagnostics(tsi, sf, analysis, program)];
  const result: FileResult = { text, diagnostics, ids: analysis.ids, sf };
  // Errors fail the build: no point emitting.
  if (analysis.operations.length === 0 || diagnostics.some((d) => d.category === "error")) return result;
  const out = emit(tsi, sf, analysis);
  result.contents = out.code;
  // Printed back as the same language: esbuild compiles it as it would the original, tsconfig and all.
  result.loader = out.stripped ? (/\.[jt]sx$/.test(sf.fileName) ? "jsx" : "js") : defaultLoader(sf.fileName, build);
  return result;
}

/** The internal printer pieces tsc's own emit uses to print with a source map (present in TypeScript 5.x). */
interface PrinterInternals {
  createSourceMapGenerator?: (
    host: { getCurrentDirectory(): string; getCanonicalFileName(f: string): string },
    file: string,
    sourceRoot: string,
    sourcesDirectoryPath: string,
    options: ts.CompilerOptions,
  ) => { toJSON(): { sources: string[]; sourceRoot?: string } };
  createTextWriter?: (newLine: string) => { getText(): string };
}

/**
 * The core's rewrite applied with ts.transform, printed back as TypeScript (types, JSX and
 * decorators untouched, so esbuild compiles the result exactly as it would the original),
 * with an inline source map to the original text. Only the rewrite runs: no type stripping,
 * no checker. Without the printer internals, falls back to a one-file JavaScript emit.
 */
function emit(tsi: TS, sf: ts.SourceFile, analysis: FileAnalysis): { code: string; stripped: boolean } {
  const internals = tsi as unknown as PrinterInternals;
  if (!internals.createSourceMapGenerator || !internals.createTextWriter) return { code: emitJavaScript(tsi, sf, analysis), stripped: true };
  const commonjs = isCommonJSFile(tsi, sf);
  const options: ts.CompilerOptions = { target: tsi.ScriptTarget.ESNext, sourceMap: true, inlineSources: true };
  const transformed = tsi.transform(sf, [(context) => (file) => rewriteFile(tsi, analysis, context, { commonjs })], options);
  try {
    const dir = dirname(sf.fileName);
    const printer = tsi.createPrinter({ newLine: tsi.NewLineKind.LineFeed, sourceMap: true, inlineSources: true } as ts.PrinterOptions) as ts.Printer & {
      writeFile(sf: ts.SourceFile, writer: unknown, map: unknown): void;
    };
    const map = internals.createSourceMapGenerator({ getCurrentDirectory: () => dir, getCanonicalFileName: (f) => f }, sf.fileName, "", dir, options);
    const writer = internals.createTextWriter("\n");
    printer.writeFile(transformed.transformed[0]!, writer, map);
    return { code: withInlineMap(writer.getText(), map.toJSON(), sf.fileName), stripped: false };
  } finally {
    transformed.dispose();
  }
}

/** The map names the source by its absolute path, so esbuild's composed map finds the user's file wherever the output goes. */
function withInlineMap(code: string, map: { sources: string[]; sourceRoot?: string }, fileName: string): string {
  map.sources = [fileName];
  delete map.sourceRoot;
  const inline = Buffer.from(JSON.stringify(map)).toString("base64");
  return code.replace(/\/\/# sourceMappingURL=\S+\s*$/, "") + `\n//# sourceMappingURL=data:application/json;base64,${inline}\n`;
}

/**
 * The fallback: one file through a one-file program (what ts.transpileModule does, but
 * with our already-analysed SourceFile, so the analysis's nodes are the ones emitted).
 */
function emitJavaScript(tsi: TS, sf: ts.SourceFile, analysis: FileAnalysis): string {
  const options: ts.CompilerOptions = {
    target: tsi.ScriptTarget.ESNext,
    module: tsi.ModuleKind.Preserve,
    jsx: tsi.JsxEmit.Preserve,
    allowJs: true,
    isolatedModules: true,
    // No type checking of the file on emit (transpileModule's setting).
    noCheck: true,
    noLib: true,
    noResolve: true,
    declaration: false,
    removeComments: false,
    sourceMap: true,
    inlineSources: true,
    suppressOutputPathCheck: true,
  };
  let js = "";
  let map = "";
  const host: ts.CompilerHost = {
    getSourceFile: (f) => (f === sf.fileName ? sf : undefined),
    writeFile: (f, data) => {
      if (f.endsWith(".map")) map = data;
      else js = data;
    },
    getDefaultLibFileName: () => "lib.d.ts",
    useCaseSensitiveFileNames: () => true,
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => dirname(sf.fileName),
    getNewLine: () => "\n",
    fileExists: (f) => f === sf.fileName,
    readFile: () => "",
    directoryExists: () => true,
    getDirectories: () => [],
  };
  const program = tsi.createProgram([sf.fileName], options, host);
  const commonjs = isCommonJSFile(tsi, sf);
  const before: ts.TransformerFactory<ts.SourceFile> = (context) => (file) =>
    file === sf ? rewriteFile(tsi, analysis, context, { commonjs }) : file;
  program.emit(sf, undefined, undefined, false, { before: [before] });
  return withInlineMap(js, JSON.parse(map), sf.fileName);
}

/**
 * Whether the rewrite's helper import must be a require(): only for a file that is
 * CommonJS (a .cjs/.cts file, or one that uses require/module.exports) with no ESM syntax;
 * an import statement there would turn it into an ES module.
 */
function isCommonJSFile(tsi: TS, sf: ts.SourceFile): boolean {
  const esm = sf.statements.some(
    (st) =>
      tsi.isImportDeclaration(st) ||
      tsi.isExportDeclaration(st) ||
      tsi.isExportAssignment(st) ||
      (tsi.canHaveModifiers(st) && (tsi.getModifiers(st) ?? []).some((m) => m.kind === tsi.SyntaxKind.ExportKeyword)),
  );
  if (esm) return false;
  return /\.c[jt]s$/.test(sf.fileName) || /\brequire\s*\(|\bmodule\.exports\b|\bexports\.\w/.test(sf.text);
}

// ---- the rules --------------------------------------------------------------------------

/**
 * The misuse rules of the core (SW1001, SW1002, SW1101, SW1102, and with a program SW1004),
 * for a file the analysis found operations in. Without a program they see what one file
 * shows: direct calls, imports by name, helpers declared in the file. With typeCheck's
 * program they follow calls into other files and check types, as tspc does.
 */
function ruleDiagnostics(tsi: TS, sf: ts.SourceFile, analysis: FileAnalysis, program: ProgramState | undefined): SwDiagnostic[] {
  // The files analyzeProgram runs them on: those with operations, or an inline Stepwise.runStep.
  if (analysis.operations.length === 0 && analysis.diagnostics.length === 0 && !sf.text.includes("runStep")) return [];
  if (program) return program.rules.get(sf) ?? [];
  return checkRules(tsi, sf, { analyses: new Map([[sf, analysis]]) });
}

// ---- SW1006 across the bundle -------------------------------------------------------------

/**
 * Adds a file's IDs to the build's and returns SW1006 for each clash. esbuild loads files
 * in parallel, so of two definitions the one that sorts later (by file, then position) is
 * reported, whichever loaded first; the message names both. Reported from onLoad, so a
 * clash fails the build before anything is written.
 */
function duplicatesAcrossBundle(entries: readonly IdEntry[], seen: Map<string, IdEntry>, display: (f: string) => string): SwDiagnostic[] {
  const out: SwDiagnostic[] = [];
  for (const e of entries) {
    const prev = seen.get(e.id);
    if (!prev) {
      seen.set(e.id, e);
      continue;
    }
    // The same definition loaded twice (a file reached under two paths is still one file).
    if (prev.sf.fileName === e.sf.fileName && prev.start === e.start) continue;
    const [first, second] = compareEntries(prev, e, display) <= 0 ? [prev, e] : [e, prev];
    seen.set(e.id, first);
    out.push(...findDuplicates([first, second], display));
  }
  return out;
}

function compareEntries(a: IdEntry, b: IdEntry, display: (f: string) => string): number {
  const fa = display(a.sf.fileName);
  const fb = display(b.sf.fileName);
  return fa < fb ? -1 : fa > fb ? 1 : a.start - b.start;
}

// ---- diagnostics as esbuild messages ------------------------------------------------------

/** `sfOf` finds the source file of a place: the file being loaded, or another one of this build (SW1006). */
function toMessage(d: SwDiagnostic, sfOf: (fileName: string) => ts.SourceFile | undefined, display: (f: string) => string): PartialMessage {
  const at = (p: { fileName: string; start: number; length: number }) => {
    const sf = sfOf(p.fileName);
    return sf ? location(sf, p.start, p.length, display) : { file: display(p.fileName) };
  };
  return {
    id: d.code,
    text: messageText(d),
    location: at(d),
    notes: d.related?.map((r) => ({ text: r.message, location: at(r) })) ?? [],
  };
}

/** esbuild's location: 1-based line, 0-based column and length in UTF-8 bytes, the line's text. */
function location(sf: ts.SourceFile, start: number, length: number, display: (f: string) => string): NonNullable<Message["location"]> {
  const { line, character } = sf.getLineAndCharacterOfPosition(start);
  const lineStart = start - character;
  const lineEnd = sf.getLineEndOfPosition(start);
  const lineText = sf.text.slice(lineStart, lineEnd);
  return {
    file: display(sf.fileName),
    namespace: "file",
    line: line + 1,
    column: Buffer.byteLength(lineText.slice(0, character)),
    length: Buffer.byteLength(sf.text.slice(start, Math.min(start + length, lineEnd))),
    lineText,
    suggestion: "",
  };
}

function defaultLoader(path: string, build: PluginBuild): Loader {
  const ext = extname(path);
  const configured = build.initialOptions.loader?.[ext];
  if (configured) return configured;
  if (/^\.[cm]?ts$/.test(ext)) return "ts";
  if (ext === ".tsx") return "tsx";
  if (ext === ".jsx") return "jsx";
  return "js";
}

// ---- typeCheck: one program per build ----------------------------------------------------

interface ProgramState {
  program: ts.Program;
  checker: ts.TypeChecker;
  analysis: ProgramAnalysis;
  files: Map<string, { sf: ts.SourceFile; analysis: FileAnalysis }>;
  /** The misuse rules' diagnostics by file; reported only for the files the bundle loads. */
  rules: Map<ts.SourceFile, SwDiagnostic[]>;
  configPath: string;
  /** The tsconfig and the project's own files, for esbuild's watch mode. */
  watchFiles: string[];
  /** Parsed source files by path and text, reused by the next build's program. */
  parsed: Map<string, ts.SourceFile>;
}

function updateProgram(tsi: TS, prev: ProgramState | undefined, tsconfig: string | undefined, cwd: string, display: (f: string) => string): ProgramState {
  const configPath = tsconfig ? resolve(cwd, tsconfig) : tsi.findConfigFile(cwd, (f) => existsSync(f));
  if (!configPath || !existsSync(configPath))
    throw new Error(
      `stepwise: typeCheck needs a tsconfig.json (looked for ${tsconfig ? resolve(cwd, tsconfig) : `one in ${cwd} and above`}); ` +
        `pass stepwise({ typeCheck: true, tsconfig: "path/to/tsconfig.json" }) or turn typeCheck off.`,
    );
  let problem: string | undefined;
  const parsed = tsi.getParsedCommandLineOfConfigFile(configPath, {}, {
    ...tsi.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => (problem = tsi.flattenDiagnosticMessageText(d.messageText, "\n")),
  });
  if (!parsed) throw new Error(`stepwise: cannot read ${configPath}: ${problem ?? "unknown error"}`);
  const host = tsi.createCompilerHost(parsed.options, true);
  // What tsc does since 5.3 (the core reads tags from comment text, not from JSDoc nodes).
  host.jsDocParsingMode = tsi.JSDocParsingMode.ParseForTypeErrors;
  const reuse = prev?.parsed ?? new Map<string, ts.SourceFile>();
  const parsedNow = new Map<string, ts.SourceFile>();
  const getSourceFile = host.getSourceFile.bind(host);
  // A file whose text is unchanged keeps its SourceFile: with oldProgram, an unchanged
  // project costs a re-check, not a re-parse.
  host.getSourceFile = (fileName, lang, onError, shouldCreate) => {
    const text = host.readFile(fileName);
    if (text === undefined) return getSourceFile(fileName, lang, onError, shouldCreate);
    const old = reuse.get(fileName);
    const sf = old && old.text === text ? old : getSourceFile(fileName, lang, onError, shouldCreate);
    if (sf) parsedNow.set(fileName, sf);
    return sf;
  };
  const program = tsi.createProgram({ rootNames: parsed.fileNames, options: parsed.options, host, oldProgram: prev?.program, configFileParsingDiagnostics: parsed.errors });
  const analysis = analyzeProgram(tsi, program, display, { rules: false });
  const files = new Map<string, { sf: ts.SourceFile; analysis: FileAnalysis }>();
  const rules = new Map<ts.SourceFile, SwDiagnostic[]>();
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || program.isSourceFileFromExternalLibrary(sf)) continue;
    const a = analysis.files.get(sf) ?? { sf, operations: [], diagnostics: [], ids: [] };
    // ts file names use forward slashes; esbuild passes native paths.
    files.set(resolve(sf.fileName), { sf, analysis: a });
    // All files in program order, as tspc checks them: the rules memoize what each helper
    // reaches, and program order keeps that walk shallow (dependencies come first), where
    // esbuild's load order (entry first) would walk a long call chain in one recursion.
    if (a.operations.length > 0 || a.diagnostics.length > 0 || sf.text.includes("runStep"))
      rules.set(sf, checkRules(tsi, sf, { program, analyses: analysis.files }));
  }
  const watchFiles = [configPath, ...[...files.keys()]];
  return { program, checker: program.getTypeChecker(), analysis, files, rules, configPath, watchFiles, parsed: parsedNow };
}

// ---- loading TypeScript ----------------------------------------------------------------

async function importTypeScript(): Promise<TS> {
  try {
    const mod = (await import("typescript")) as TS & { default?: TS };
    return mod.default ?? mod;
  } catch (e) {
    throw new Error(
      `stepwise/esbuild needs the "typescript" package to rewrite steps and workflows, and could not load it (${(e as Error).message}). ` +
        `Install it beside stepwise: npm install --save-dev typescript`,
    );
  }
}
