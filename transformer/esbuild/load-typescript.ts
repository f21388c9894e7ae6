/**
 * Loads the TypeScript compiler for the esbuild host, fast enough that a build does not
 * wait on it.
 *
 * `import("typescript")` costs about 1 s in a fresh process: Node scans the 9 MB
 * CommonJS file for its export names before V8 even compiles it. A plain require() skips
 * the scan (about 0.3 s). What is left is V8 compiling the file and, during the build,
 * the functions the parser and printer use; a V8 code cache written after the first
 * build makes that about 0.1 s in every later process. Node 22's module.enableCompileCache
 * does the same for every module of the process; this one touches only TypeScript, so
 * a build script's own modules and Node versions before 22 behave alike.
 *
 * The cache lives in node_modules/.cache/stepwise beside the typescript package (the
 * project's own folder, as babel and eslint keep theirs), keyed by TypeScript's version,
 * the file's size and mtime, and V8's version. V8 rejects data that does not match its
 * own version or the source; a rejected or unreadable cache only costs the slow load.
 */
import Module, { createRequire } from "node:module";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Script } from "node:vm";
import type { TS } from "../core/ts.js";

export interface LoadedTypeScript {
  ts: TS;
  /** How the code cache served this load: used, absent, refused by V8 (another V8 or source), or not used at all. */
  cache: "hit" | "miss" | "rejected" | "off";
  /** Writes the code cache if this load had none (or V8 refused it). Call once the build has run, so the compiled functions are in it. */
  saveCache(): void;
}

const localRequire = createRequire(import.meta.url);
/** One compiler per process: every build reuses it, warm (a second copy would start cold again). */
let loadedOnce: LoadedTypeScript | undefined;

/**
 * `cacheDir`: where the code cache goes; `false` loads without one. The default is
 * node_modules/.cache/stepwise next to the resolved typescript package.
 */
export function loadTypeScript(cacheDir?: string | false): LoadedTypeScript {
  return (loadedOnce ??= load(cacheDir));
}

function load(cacheDir: string | false | undefined): LoadedTypeScript {
  const file = localRequire.resolve("typescript");
  const loaded = localRequire.cache[file]?.exports as TS | undefined;
  // Already in this process (a build script or typeCheck loaded it): one instance.
  if (loaded || cacheDir === false) return { ts: loaded ?? (localRequire("typescript") as TS), cache: "off", saveCache: () => {} };
  try {
    return loadWithCache(file, cacheDir ?? defaultCacheDir());
  } catch {
    // An unusual install (a bundled or patched loader): the ordinary way still works.
    return { ts: localRequire("typescript") as TS, cache: "off", saveCache: () => {} };
  }
}

/** node_modules/.cache/stepwise in the node_modules that holds the typescript package (the project's own, as a rule). */
export function defaultCacheDir(): string {
  // .../node_modules/typescript/lib/typescript.js -> .../node_modules/.cache/stepwise
  return join(dirname(localRequire.resolve("typescript")), "..", "..", ".cache", "stepwise");
}

/** The version of the typescript package this package resolves, without loading it. */
export function typescriptVersion(): string {
  const pkg = join(dirname(localRequire.resolve("typescript")), "..", "package.json");
  return /"version":\s*"([^"]+)"/.exec(readFileSync(pkg, "utf8"))?.[1] ?? "unknown";
}

function loadWithCache(file: string, cacheDir: string): LoadedTypeScript {
  const source = readFileSync(file, "utf8");
  const version = typescriptVersion();
  const stat = statSync(file);
  const cacheFile = join(cacheDir, `typescript-${version}-${stat.size}-${Math.floor(stat.mtimeMs)}-v8-${process.versions.v8}-${process.arch}.cache`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(Module.wrap(source), { filename: file, cachedData });
  const mod = new Module(file);
  mod.filename = file;
  const run = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  run.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  mod.loaded = true;
  // Where require("typescript") looks first: the rest of the process gets this instance too.
  localRequire.cache[file] = mod;
  const cache = cachedData === undefined ? "miss" : script.cachedDataRejected ? "rejected" : "hit";
  const needsWrite = cache !== "hit";
  let saved = false;
  return {
    ts: mod.exports as TS,
    cache,
    saveCache() {
      if (!needsWrite || saved) return;
      saved = true;
      try {
        mkdirSync(cacheDir, { recursive: true });
        // Another build may write the same file at once: each writes its own, then renames.
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
        // The caches of other TypeScript or Node versions are dead weight now.
        for (const f of readdirSync(cacheDir))
          if (/^typescript-.*\.cache$/.test(f) && join(cacheDir, f) !== cacheFile) rmSync(join(cacheDir, f), { force: true });
      } catch {
        // A read-only install: every build loads the slow way, nothing else changes.
      }
    },
  };
}
