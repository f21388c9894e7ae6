/**
 * The esbuild host:
 *
 *   import { stepwise } from "stepwise/esbuild";
 *   await esbuild.build({ entryPoints: ["src/main.ts"], bundle: true, plugins: [stepwise()] });
 *
 * An onLoad plugin over the same core as tspc. A file whose text mentions no tag and not
 * the package is returned to esbuild untouched (the callback returns undefined), so a
 * project with few steps pays one text test per file. A file with markers is parsed and
 * analysed by the core and rewritten by inserting text into it (esbuild/file.ts,
 * core/rewrite-text.ts), with an inline source map that esbuild composes with its own,
 * and handed to esbuild with the loader it would have used anyway.
 *
 * TypeScript (a dependency of this package) is loaded on the first file that needs it,
 * with a V8 code cache (esbuild/load-typescript.ts); a file rewritten by an earlier build
 * comes from the file cache (esbuild/file-cache.ts) without it.
 */
import type * as ts from "typescript";
import type { Loader, Message, OnLoadResult, PartialMessage, Plugin, PluginBuild } from "esbuild";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { TS } from "./core/ts.js";
import {
  analyzeProgram,
  buildManifest,
  checkRules,
  findDuplicates,
  messageText,
  mightContainMarkers,
  type FileAnalysis,
  type ProgramAnalysis,
  type SwDiagnostic,
} from "./core/index.js";
import type { IdEntry } from "./core/ids.js";
import { defaultCacheDir, loadTypeScript, typescriptVersion, type LoadedTypeScript } from "./esbuild/load-typescript.js";
import { hasSyntaxErrors, needsRules, outcomeOf, textSource, transformFile, type FileOutcome } from "./esbuild/file.js";
import { FileCache, transformerFingerprint } from "./esbuild/file-cache.js";

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
  /** The TypeScript instance to use (default: the `typescript` package this package depends on). */
  typescript?: TS;
  /**
   * Where the plugin keeps what a build in a new process can reuse: each rewritten file
   * (keyed by its path, its text and the plugin's own code) and TypeScript's V8 code
   * cache; a relative path is taken from the working directory. `false`: nothing is
   * written, every build starts from scratch. Default: node_modules/.cache/stepwise in
   * the node_modules that holds typescript.
   */
  cacheDir?: string | false;
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

/** What a diagnostic reads of a file: its SourceFile, or (a file from the cache) its text and lines. */
type Source = Pick<ts.SourceFile, "fileName" | "text" | "getLineAndCharacterOfPosition" | "getLineEndOfPosition">;

/** What one file's onLoad produced; kept across watch rebuilds while the text is unchanged. */
interface FileResult {
  text: string;
  /** undefined: hand the file to esbuild untouched. */
  contents?: string;
  diagnostics: SwDiagnostic[];
  ids: IdEntry[];
  sf: Source;
}

function fileResult(outcome: FileOutcome, text: string, sf: Source): FileResult {
  return { text, contents: outcome.contents, diagnostics: outcome.diagnostics, ids: outcome.ids.map((r) => ({ ...r, sf })), sf };
}

function setupStepwise(build: PluginBuild, options: StepwiseEsbuildOptions): void {
  const cwd = build.initialOptions.absWorkingDir ?? process.cwd();
  const display = (f: string) => {
    const rel = relative(cwd, f);
    return (rel.startsWith("..") || isAbsolute(rel) ? f : rel).split(sep).join("/");
  };
  let tsi: TS | undefined = options.typescript;
  let loaded: LoadedTypeScript | undefined;
  const cacheDir = options.cacheDir === false ? false : options.cacheDir !== undefined ? resolve(cwd, options.cacheDir) : defaultCacheDirOrNone();
  const loadTs = (): TS => (tsi ??= (loaded = requireTypeScript(cacheDir)).ts);
  // The syntactic mode's results by file text; typeCheck's depend on other files, so they are not kept.
  const fileCache = cacheDir && !options.typeCheck ? new FileCache(join(cacheDir, "files"), fingerprint(options.typescript)) : undefined;
  build.onEnd(() => {
    // Once a build has run, its compiled functions go into the code cache with the file's.
    loaded?.saveCache();
    fileCache?.flush();
  });

  // Syntactic results by path, reused by watch rebuilds for files whose text is unchanged.
  const cache = new Map<string, FileResult>();
  let program: ProgramState | undefined;
  // Per build: every ID defined by the files loaded so far, for SW1006 across the bundle.
  let ids = new Map<string, IdEntry>();
  let sources = new Map<string, Source>();
  let watchSent = false;

  build.onStart(() => {
    ids = new Map();
    sources = new Map();
    watchSent = false;
    if (!options.typeCheck) return undefined;
    try {
      program = updateProgram(loadTs(), program, options.tsconfig ?? build.initialOptions.tsconfig, cwd, display);
    } catch (e) {
      return { errors: [{ text: (e as Error).message }] };
    }
    return undefined;
  });

  build.onLoad({ filter: FILTER, namespace: "file" }, (args): OnLoadResult | undefined => {
    const result = load(args);
    // The program's files (and tsconfig), so watch mode rebuilds when a file the rules read
    // changes, even one the bundle never loads (types, type-only imports).
    if (!program || watchSent) return result;
    watchSent = true;
    return { ...result, watchFiles: program.watchFiles };
  });

  const load = (args: { path: string; suffix?: string }): OnLoadResult | undefined => {
    if (!options.includeNodeModules && args.path.split(/[\\/]/).includes("node_modules")) return undefined;
    if (args.suffix) return undefined;
    // Synchronous: a thousand small reads through the thread pool cost more than they overlap.
    const text = readFileSync(args.path, "utf8");
    const fromProgram = program?.files.get(args.path);
    let result: FileResult;
    if (fromProgram && fromProgram.sf.text === text) {
      if (hasSyntaxErrors(fromProgram.sf)) return undefined;
      // Checker-resolved markers and the type-aware rules, from this build's program.
      const { sf, analysis } = fromProgram;
      const rules = needsRules(analysis) ? (program!.rules.get(sf) ?? []) : [];
      result = fileResult(outcomeOf(loadTs(), analysis, rules), text, sf);
    } else {
      // The cheap path: no tag and no mention of the package, nothing to do.
      if (!mightContainMarkers(text)) return undefined;
      const cached = cache.get(args.path);
      if (cached && cached.text === text) result = cached;
      else {
        let outcome = fileCache?.get(args.path, text);
        if (!outcome) {
          outcome = transformFile(loadTs(), args.path, text);
          fileCache?.set(args.path, text, outcome);
        }
        // A file that does not parse is left to esbuild, which reports the syntax error where it is.
        if (outcome.syntaxError) return undefined;
        result = fileResult(outcome, text, textSource(args.path, text));
        cache.set(args.path, result);
      }
    }
    sources.set(result.sf.fileName, result.sf);
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
    // The rewritten text is still the user's language: esbuild compiles it as it would the original, tsconfig and all.
    return { contents: result.contents ?? text, loader: defaultLoader(args.path, build), warnings };
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
function toMessage(d: SwDiagnostic, sfOf: (fileName: string) => Source | undefined, display: (f: string) => string): PartialMessage {
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
function location(sf: Source, start: number, length: number, display: (f: string) => string): NonNullable<Message["location"]> {
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
    if (needsRules(a))
      rules.set(sf, checkRules(tsi, sf, { program, analyses: analysis.files }));
  }
  const watchFiles = [configPath, ...[...files.keys()]];
  return { program, checker: program.getTypeChecker(), analysis, files, rules, configPath, watchFiles, parsed: parsedNow };
}

// ---- loading TypeScript ----------------------------------------------------------------

function requireTypeScript(cacheDir: string | false): LoadedTypeScript {
  try {
    return loadTypeScript(cacheDir);
  } catch (e) {
    throw new Error(
      `stepwise/esbuild needs the "typescript" package to rewrite steps and workflows, and could not load it (${(e as Error).message}). ` +
        `Install it beside stepwise: npm install --save-dev typescript`,
    );
  }
}

/** Where the caches go by default; none when typescript cannot be found (the first file that needs it says so). */
function defaultCacheDirOrNone(): string | false {
  try {
    return defaultCacheDir();
  } catch {
    return false;
  }
}

function fingerprint(own: TS | undefined): string {
  let version: string;
  try {
    version = own?.version ?? typescriptVersion();
  } catch {
    version = "none";
  }
  return transformerFingerprint(version);
}
