/**
 * What every bundler host shares: one build's per-file transform over the core (the
 * text-insertion rewrite of esbuild/file.ts), the caches, SW1006 across the files of the
 * build, the typeCheck program, the manifest, and the diagnostics in a host-neutral shape.
 * transformer/esbuild.ts and the unplugin family (transformer/plugins/) are thin adapters
 * over it, so a file gets the same rewrite, IDs and diagnostics under every bundler.
 *
 * Lifecycle, per build: start() (typeCheck: the program), transform() for each file the
 * bundler loads, end(). A dev server or watch mode that re-transforms a file without a new
 * build replaces that file's IDs (the edited file does not clash with its old self).
 */
import type * as ts from "typescript";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
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
import { verifyBuild, type VerifyOutput } from "./verify.js";

export interface StepwiseBuildOptions {
  /**
   * Also run the rules that need the type checker (SW1004, and SW1001/SW1002 followed
   * through helper calls), and resolve markers re-exported through your own modules.
   * Builds one ts.Program per build from the tsconfig (reused across watch rebuilds).
   * Default false: the syntactic rules only, no program.
   */
  typeCheck?: boolean;
  /** The tsconfig for `typeCheck` (default: the bundler's tsconfig option where it has one, else tsconfig.json in the working directory). */
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

/** The files a bundler host hands to the session (the rest it never asks about). */
export const SOURCE_FILTER = /\.(?:[cm]?tsx?|[cm]?jsx?)$/;

/** A place in a file: 1-based line; columns 0-based, in UTF-16 code units and in UTF-8 bytes (esbuild's). */
export interface HostLocation {
  file: string;
  line: number;
  column: number;
  byteColumn: number;
  length: number;
  byteLength: number;
  lineText: string;
}

export interface HostMessage {
  code?: string;
  text: string;
  /** Just the file when the place is in a file this build has not read. */
  location?: HostLocation | { file: string };
  notes: { text: string; location?: HostLocation | { file: string } }[];
}

export interface FileReport {
  /** The rewritten text, with an inline source map; undefined: the file is unchanged. */
  contents?: string;
  /** The file's text as read. */
  text: string;
  errors: HostMessage[];
  warnings: HostMessage[];
}

/** What a diagnostic reads of a file: its SourceFile, or (a file from the cache) its text and lines. */
type Source = Pick<ts.SourceFile, "fileName" | "text" | "getLineAndCharacterOfPosition" | "getLineEndOfPosition">;

/** What one file's transform produced; kept across watch rebuilds while the text is unchanged. */
interface FileResult {
  text: string;
  /** undefined: hand the file to the bundler untouched. */
  contents?: string;
  diagnostics: SwDiagnostic[];
  ids: IdEntry[];
  sf: Source;
}

function fileResult(outcome: FileOutcome, text: string, sf: Source): FileResult {
  return { text, contents: outcome.contents, diagnostics: outcome.diagnostics, ids: outcome.ids.map((r) => ({ ...r, sf })), sf };
}

export class BuildSession {
  readonly cwd: string;
  private readonly host: string;
  private readonly cacheDir: string | false;
  private tsi: TS | undefined;
  private loaded: LoadedTypeScript | undefined;
  private readonly fileCache: FileCache | undefined;
  /** Syntactic results by path, reused by watch rebuilds for files whose text is unchanged. */
  private readonly cache = new Map<string, FileResult>();
  private program: ProgramState | undefined;
  /** This build's IDs by file path, and every definition of each ID, for SW1006 across the build. */
  private idsByFile = new Map<string, IdEntry[]>();
  private byId = new Map<string, IdEntry[]>();
  private sources = new Map<string, Source>();
  /**
   * The text transform() was last handed for each file, for checkUnrewritten(). Kept across
   * watch rebuilds, which reuse the rewritten output of files they do not transform again.
   */
  private seen = new Map<string, string>();
  private failed = false;

  constructor(
    private readonly options: StepwiseBuildOptions,
    /** `host`: the entry a user imported, for messages ("stepwise/vite"). */
    opts: { cwd: string; host: string },
  ) {
    this.cwd = opts.cwd;
    this.host = opts.host;
    this.tsi = options.typescript;
    const cacheDir = options.cacheDir === false ? false : options.cacheDir !== undefined ? resolve(this.cwd, options.cacheDir) : defaultCacheDirOrNone();
    this.cacheDir = cacheDir;
    // The syntactic mode's results by file text; typeCheck's depend on other files, so they are not kept.
    this.fileCache = cacheDir && !options.typeCheck ? new FileCache(join(cacheDir, "files"), fingerprint(options.typescript)) : undefined;
  }

  readonly display = (f: string): string => {
    const rel = relative(this.cwd, f);
    return (rel.startsWith("..") || isAbsolute(rel) ? f : rel).split(sep).join("/");
  };

  private loadTs(): TS {
    return (this.tsi ??= (this.loaded = requireTypeScript(this.cacheDir, this.host)).ts);
  }

  /** A new build: forgets the last build's IDs; with typeCheck, (re)builds the program. Returns an error message, or undefined. */
  start(bundlerTsconfig?: string): string | undefined {
    this.idsByFile = new Map();
    this.byId = new Map();
    this.sources = new Map();
    this.failed = false;
    if (!this.options.typeCheck) return undefined;
    try {
      this.program = updateProgram(this.loadTs(), this.program, this.options.tsconfig ?? bundlerTsconfig, this.cwd, this.display);
    } catch (e) {
      this.failed = true;
      return (e as Error).message;
    }
    return undefined;
  }

  /**
   * typeCheck in a dev server, which transforms edited files without a new build: the
   * program is built again (incrementally) on the next transform after a change, keeping
   * the build's IDs. Returns an error message, or undefined.
   */
  refreshProgram(bundlerTsconfig?: string): string | undefined {
    if (!this.options.typeCheck) return undefined;
    try {
      this.program = updateProgram(this.loadTs(), this.program, this.options.tsconfig ?? bundlerTsconfig, this.cwd, this.display);
    } catch (e) {
      return (e as Error).message;
    }
    return undefined;
  }

  /** The tsconfig and the program's own files (typeCheck), for the bundler's watch mode: a change to one the rules read rebuilds. */
  get watchFiles(): readonly string[] {
    return this.program?.watchFiles ?? [];
  }

  /** Whether `path` is one the session transforms (not under node_modules unless asked). */
  wants(path: string): boolean {
    return SOURCE_FILTER.test(path) && (this.options.includeNodeModules || !path.split(/[\\/]/).includes("node_modules"));
  }

  /**
   * One file of the build. `text` defaults to the file on disk. undefined: nothing to say
   * and nothing to change (including a file that does not parse: the bundler reports its
   * syntax error where it is).
   */
  transform(path: string, text?: string): FileReport | undefined {
    if (!this.wants(path)) return undefined;
    // Synchronous: a thousand small reads through the thread pool cost more than they overlap.
    text ??= readFileSync(path, "utf8");
    this.seen.set(path, text);
    const program = this.program;
    const fromProgram = program?.files.get(path);
    let result: FileResult;
    if (fromProgram && fromProgram.sf.text === text) {
      if (hasSyntaxErrors(fromProgram.sf)) return undefined;
      // Checker-resolved markers and the type-aware rules, from this build's program.
      const { sf, analysis } = fromProgram;
      const rules = needsRules(analysis) ? (program!.rules.get(sf) ?? []) : [];
      result = fileResult(outcomeOf(this.loadTs(), analysis, rules), text, sf);
    } else {
      // The cheap path: no tag and no mention of the package, nothing to do.
      if (!mightContainMarkers(text)) {
        this.forgetIds(path);
        return undefined;
      }
      const cached = this.cache.get(path);
      if (cached && cached.text === text) result = cached;
      else {
        let outcome = this.fileCache?.get(path, text);
        if (!outcome) {
          outcome = transformFile(this.loadTs(), path, text);
          this.fileCache?.set(path, text, outcome);
        }
        if (outcome.syntaxError) return undefined;
        result = fileResult(outcome, text, textSource(path, text));
        this.cache.set(path, result);
      }
    }
    this.sources.set(result.sf.fileName, result.sf);
    const diagnostics = [...result.diagnostics, ...this.duplicates(path, result.ids)];
    if (diagnostics.length === 0 && result.contents === undefined) return undefined;
    const sfOf = (f: string) => this.sources.get(f);
    const errors = diagnostics.filter((d) => d.category === "error").map((d) => toHostMessage(d, sfOf, this.display));
    const warnings = diagnostics.filter((d) => d.category === "warning").map((d) => toHostMessage(d, sfOf, this.display));
    if (program && !fromProgram && result.contents !== undefined)
      warnings.push({
        text:
          `stepwise: typeCheck: ${this.display(path)} is not in the program of ${this.display(program.configPath)}, so its steps were checked ` +
          `without the type checker; add it to that tsconfig's "include", or pass stepwise({ typeCheck: true, tsconfig }) for one that has it.`,
        notes: [],
      });
    if (errors.length > 0) {
      this.failed = true;
      return { text, errors, warnings };
    }
    return { contents: result.contents, text, errors, warnings };
  }

  /** A file left the build (deleted in watch mode): its IDs no longer clash with anything. */
  forgetIds(path: string): void {
    for (const e of this.idsByFile.get(path) ?? []) {
      const list = this.byId.get(e.id);
      if (list) list.splice(list.indexOf(e), 1);
    }
    this.idsByFile.delete(path);
  }

  /**
   * The build's end, before end(): a tagged function that reached the output without the
   * transform (a file another plugin loaded or compiled before this one, so the tags were
   * gone by the time it got here; or one this plugin never saw) runs as plain code, so the
   * build fails naming it. `modules`: the files the bundle holds (absolute paths; the
   * bundler's IDs, queries and virtual modules are sorted out here); `outputs`: the files it
   * emitted, with their source maps where the bundler has them, so that a tagged function
   * tree-shaken out of the output is not reported (verify.ts).
   *
   * Only files whose text on disk has a tag and that transform() did not see as they are on
   * disk are parsed, so a build where the plugin ran everywhere pays a Map lookup per module.
   */
  checkUnrewritten(modules: Iterable<string>, outputs: () => VerifyOutput[]): HostMessage[] {
    const suspects: { fileName: string; text: string }[] = [];
    for (const id of new Set([...modules].map(cleanModuleId))) {
      if (!id || !isAbsolute(id) || !this.wants(id)) continue;
      let text: string;
      try {
        text = readFileSync(id, "utf8");
      } catch {
        continue;
      }
      if (this.seen.get(id) === text || !mightContainMarkers(text)) continue;
      suspects.push({ fileName: id, text });
    }
    if (suspects.length === 0) return [];
    const { problems } = verifyBuild(this.loadTs(), suspects, outputs(), this.display);
    return problems.map((p) => ({
      text:
        `${p.message} Stepwise did not get ${this.display(p.fileName)} as it is on disk: another plugin or loader loaded or compiled it before ` +
        `${this.host}'s (put stepwise() first in the plugins, ahead of anything that compiles TypeScript), or a filter kept it from this one.`,
      location: { file: this.display(p.fileName), line: p.line, column: 0, byteColumn: 0, length: 0, byteLength: 0, lineText: lineOf(suspects, p.fileName, p.line) },
      notes: [],
    }));
  }

  /** The build is over: keeps the caches, and writes the manifest unless the build failed (`failed`: errors from the bundler too). */
  end(failed = false): void {
    // Once a build has run, its compiled functions go into the code cache with the file's.
    this.loaded?.saveCache();
    this.fileCache?.flush();
    if (!this.options.manifest || failed || this.failed) return;
    const out = resolve(this.cwd, this.options.manifest);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(buildManifest(this.manifestEntries(), this.display), null, 2) + "\n");
  }

  /**
   * checkUnrewritten() failed the build, before or after end() (the hosts' hooks run in
   * either order): no manifest is left, since it would describe a build that is not durable.
   */
  failCheck(): void {
    this.failed = true;
    if (this.options.manifest) rmSync(resolve(this.cwd, this.options.manifest), { force: true });
  }

  /** The first definition of each ID (by file, then position). */
  private manifestEntries(): IdEntry[] {
    const out: IdEntry[] = [];
    for (const list of this.byId.values()) {
      if (list.length === 0) continue;
      out.push(list.reduce((a, b) => (compareEntries(b, a, this.display) < 0 ? b : a)));
    }
    return out;
  }

  /**
   * Adds a file's IDs to the build's and returns SW1006 for each clash. Bundlers load
   * files in parallel, so of two definitions the one that sorts later (by file, then
   * position) is reported, whichever loaded first; the message names both. Reported when
   * the file loads, so a clash fails the build before anything is written.
   */
  private duplicates(path: string, entries: readonly IdEntry[]): SwDiagnostic[] {
    this.forgetIds(path);
    this.idsByFile.set(path, [...entries]);
    const out: SwDiagnostic[] = [];
    for (const e of entries) {
      let list = this.byId.get(e.id);
      if (!list) this.byId.set(e.id, (list = []));
      // The same definition loaded twice (a file reached under two paths is still one file).
      const others = list.filter((p) => !(p.sf.fileName === e.sf.fileName && p.start === e.start));
      const same = others.length < list.length;
      if (!same) list.push(e);
      else this.idsByFile.get(path)!.splice(this.idsByFile.get(path)!.indexOf(e), 1);
      if (others.length === 0) continue;
      const prev = others.reduce((a, b) => (compareEntries(b, a, this.display) < 0 ? b : a));
      const [first, second] = compareEntries(prev, e, this.display) <= 0 ? [prev, e] : [e, prev];
      out.push(...findDuplicates([first, second], this.display));
    }
    return out;
  }
}

/** A bundler's module ID as a file path: no query (Vite's `?v=`), no loader prefix (webpack's `a!b`), no virtual module. */
function cleanModuleId(id: string): string {
  if (id.startsWith("\0")) return "";
  const bang = id.lastIndexOf("!");
  const path = bang < 0 ? id : id.slice(bang + 1);
  const q = path.indexOf("?");
  return q < 0 ? path : path.slice(0, q);
}

function lineOf(sources: readonly { fileName: string; text: string }[], fileName: string, line: number): string {
  return sources.find((s) => s.fileName === fileName)?.text.split(/\r?\n/)[line - 1] ?? "";
}

function compareEntries(a: IdEntry, b: IdEntry, display: (f: string) => string): number {
  const fa = display(a.sf.fileName);
  const fb = display(b.sf.fileName);
  return fa < fb ? -1 : fa > fb ? 1 : a.start - b.start;
}

// ---- diagnostics in a host-neutral shape -------------------------------------------------

/** `sfOf` finds the source file of a place: the file being loaded, or another one of this build (SW1006). */
function toHostMessage(d: SwDiagnostic, sfOf: (fileName: string) => Source | undefined, display: (f: string) => string): HostMessage {
  const at = (p: { fileName: string; start: number; length: number }) => {
    const sf = sfOf(p.fileName);
    return sf ? location(sf, p.start, p.length, display) : { file: display(p.fileName) };
  };
  return {
    code: d.code,
    text: messageText(d),
    location: at(d),
    notes: d.related?.map((r) => ({ text: r.message, location: at(r) })) ?? [],
  };
}

function location(sf: Source, start: number, length: number, display: (f: string) => string): HostLocation {
  const { line, character } = sf.getLineAndCharacterOfPosition(start);
  const lineStart = start - character;
  const lineEnd = sf.getLineEndOfPosition(start);
  const lineText = sf.text.slice(lineStart, lineEnd);
  const span = sf.text.slice(start, Math.min(start + length, lineEnd));
  return {
    file: display(sf.fileName),
    line: line + 1,
    column: character,
    byteColumn: Buffer.byteLength(lineText.slice(0, character)),
    length: span.length,
    byteLength: Buffer.byteLength(span),
    lineText,
  };
}

/**
 * A message as one line in tsc's shape with the SW code in place of tsc's (`src/a.ts(4,17): error
 * SW1003 a step must be async...`), then a line for each note: what the hosts without a
 * structured message (Rollup, Vite, webpack, Rspack, bun) print.
 */
export function formatHostMessage(m: HostMessage, category: "error" | "warning"): string {
  const where = (l: HostMessage["location"]) => (!l ? "" : "line" in l ? `${l.file}(${l.line},${l.column + 1}): ` : `${l.file}: `);
  return [`${where(m.location)}${category} ${m.text}`, ...m.notes.map((n) => `  ${where(n.location)}${n.text}`)].join("\n");
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
  /** The tsconfig and the project's own files, for the bundler's watch mode. */
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

function requireTypeScript(cacheDir: string | false, host: string): LoadedTypeScript {
  try {
    return loadTypeScript(cacheDir);
  } catch (e) {
    throw new Error(
      `${host} needs the "typescript" package to rewrite steps and workflows, and could not load it (${(e as Error).message}). ` +
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
