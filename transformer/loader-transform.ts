/**
 * What the load hook (loader.ts) does with a file that has a tag or mentions the package:
 * the core's analysis and rules, then
 *
 * - when the source still reaches Node as the text on disk (JavaScript, or TypeScript that
 *   Node's type stripping will erase: format "module-typescript"), the esbuild plugin's
 *   text insertion (esbuild/file.ts): Node compiles the user's own text, lines where they
 *   were, with an inline source map for the columns the insertions moved;
 * - when another hook compiled it first (tsx, whose output has lost the comments the tags
 *   are in), the file is compiled again from the text on disk by TypeScript with the
 *   core's tree rewrite, as tspc does, with the source map pointing at the .ts file.
 *
 * Rewritten files are kept in the esbuild plugin's file cache, so a later start of the
 * same application does not load TypeScript for the text path.
 *
 * With STEPWISE_MANIFEST=<path> the manifest of the files loaded so far is written there
 * (relative to the working directory, as are its file names), in the format every other
 * host writes: a loader sees only what the process loads, so it is that, not the project's.
 */
import type * as ts from "typescript";
import type { TS } from "./core/ts.js";
import { buildManifest, createBeforeTransformer, messageText, type SwDiagnostic } from "./core/index.js";
import type { IdEntry } from "./core/ids.js";
import { textSource, transformFile, type FileOutcome } from "./esbuild/file.js";
import { FileCache, transformerFingerprint } from "./esbuild/file-cache.js";
import { defaultCacheDir, loadTypeScript, typescriptVersion, type LoadedTypeScript } from "./esbuild/load-typescript.js";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

export interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | ArrayBufferView | null;
  shortCircuit?: boolean;
  [key: string]: unknown;
}

let loaded: LoadedTypeScript | undefined;
let cache: FileCache | false | undefined;

function typescript(): TS {
  if (!loaded) {
    try {
      loaded = loadTypeScript(cacheDir());
    } catch (e) {
      throw new Error(
        `stepwise/register needs the "typescript" package to rewrite steps and workflows, and could not load it (${(e as Error).message}). ` +
          `Install it beside stepwise: npm install --save-dev typescript`,
      );
    }
    // The compiled functions go into the code cache once the process has used them.
    process.once("exit", () => loaded?.saveCache());
  }
  return loaded.ts;
}

function cacheDir(): string | false {
  if (process.env.STEPWISE_CACHE_DIR === "0") return false;
  try {
    return process.env.STEPWISE_CACHE_DIR || defaultCacheDir();
  } catch {
    return false;
  }
}

function fileCache(): FileCache | false {
  if (cache !== undefined) return cache;
  const dir = cacheDir();
  return (cache = dir ? new FileCache(join(dir, "files"), transformerFingerprint(safeVersion())) : false);
}

function safeVersion(): string {
  try {
    return typescriptVersion();
  } catch {
    return "none";
  }
}

function outcomeFor(path: string, text: string): FileOutcome {
  const c = fileCache();
  let outcome = c ? c.get(path, text) : undefined;
  if (!outcome) {
    outcome = transformFile(typescript(), path, text);
    if (c) {
      c.set(path, text, outcome);
      c.flush();
    }
  }
  return outcome;
}

export function rewriteLoaded(path: string, text: string, result: LoadResult): LoadResult {
  const outcome = outcomeFor(path, text);
  // A file that does not parse: Node reports the syntax error where it is.
  if (outcome.syntaxError) return result;
  report(path, text, outcome.diagnostics);
  recordIds(path, text, outcome);
  if (outcome.contents === undefined) return result;
  const format = result.format ?? undefined;
  const source = result.source == null ? undefined : typeof result.source === "string" ? result.source : Buffer.from(result.source as ArrayBuffer).toString("utf8");
  const asOnDisk = source === undefined || source === text || (format !== undefined && format.endsWith("-typescript"));
  if (asOnDisk) return { ...result, source: outcome.contents };
  return { ...result, source: compiled(path, text, format === "commonjs") };
}

/** The IDs of each file loaded, for STEPWISE_MANIFEST. */
const loadedIds = new Map<string, IdEntry[]>();

/**
 * Rewritten on each tagged file's load, not at exit: under module.register the hooks run
 * in their own thread, which is not told that the process ends.
 */
function recordIds(path: string, text: string, outcome: FileOutcome): void {
  const target = process.env.STEPWISE_MANIFEST;
  if (!target || outcome.ids.length === 0) return;
  const sf = textSource(path, text);
  loadedIds.set(path, outcome.ids.map((r) => ({ ...r, sf })));
  // The first definition of each ID, as the bundler hosts write it (a clash is SW1006 for `stepwise check`).
  const first = new Map<string, IdEntry>();
  for (const file of [...loadedIds.keys()].sort()) for (const e of loadedIds.get(file)!) if (!first.has(e.id)) first.set(e.id, e);
  const cwd = process.cwd();
  const display = (f: string) => relative(cwd, f).split(sep).join("/");
  const out = resolve(cwd, target);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(buildManifest([...first.values()], display), null, 2) + "\n");
}

/** Errors stop the load, in tsc's format; warnings are printed and the file loads. */
function report(path: string, text: string, diagnostics: readonly SwDiagnostic[]): void {
  if (diagnostics.length === 0) return;
  const sf = textSource(path, text);
  const line = (d: SwDiagnostic) => {
    const { line: l, character } = sf.getLineAndCharacterOfPosition(d.start);
    return `${path}(${l + 1},${character + 1}): ${d.category} ${messageText(d)}`;
  };
  const errors = diagnostics.filter((d) => d.category === "error");
  for (const w of diagnostics.filter((d) => d.category === "warning")) process.stderr.write(line(w) + "\n");
  if (errors.length > 0) throw new Error(`stepwise/register: ${path} has Stepwise errors, so it was not loaded:\n${errors.map(line).join("\n")}`);
}

let compilerOptions: ts.CompilerOptions | undefined;

/** The file compiled from its text on disk by TypeScript, with the core's tree rewrite (tspc's). */
function compiled(path: string, text: string, commonjs: boolean): string {
  const tsi = typescript();
  compilerOptions ??= projectOptions(tsi, path);
  const out = tsi.transpileModule(text, {
    fileName: path,
    compilerOptions: {
      ...compilerOptions,
      module: commonjs ? tsi.ModuleKind.CommonJS : tsi.ModuleKind.ESNext,
      target: compilerOptions.target ?? tsi.ScriptTarget.ES2022,
      sourceMap: false,
      inlineSourceMap: true,
      inlineSources: true,
      declaration: false,
      emitDeclarationOnly: false,
      noEmit: false,
    },
    transformers: { before: [createBeforeTransformer(tsi, undefined)] },
  });
  return out.outputText;
}

/** The nearest tsconfig.json's compiler options (decorators, JSX, class fields), as tsx reads them. */
function projectOptions(tsi: TS, path: string): ts.CompilerOptions {
  const config = tsi.findConfigFile(dirname(path), (f) => tsi.sys.fileExists(f));
  if (!config) return {};
  const parsed = tsi.getParsedCommandLineOfConfigFile(config, {}, { ...tsi.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  return parsed?.options ?? {};
}
