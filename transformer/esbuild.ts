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
 * The per-file work, the caches, SW1006 across the bundle, typeCheck and the manifest live in
 * session.ts, shared with the unplugin hosts (plugins/); this file is the esbuild glue.
 *
 * TypeScript (a dependency of this package) is loaded on the first file that needs it,
 * with a V8 code cache (esbuild/load-typescript.ts); a file rewritten by an earlier build
 * comes from the file cache (esbuild/file-cache.ts) without it.
 */
import type { Loader, OnLoadResult, OutputFile, PartialMessage, Plugin, PluginBuild } from "esbuild";
import { readFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import { BuildSession, SOURCE_FILTER, type HostMessage, type StepwiseBuildOptions } from "./session.js";
import type { RawMap, VerifyOutput } from "./verify.js";

/** The options of every bundler host (transformer/session.ts). */
export type StepwiseEsbuildOptions = StepwiseBuildOptions;

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

function setupStepwise(build: PluginBuild, options: StepwiseEsbuildOptions): void {
  // The per-file work, caches, SW1006 across the bundle and the manifest: shared with the unplugin hosts.
  const session = new BuildSession(options, { cwd: build.initialOptions.absWorkingDir ?? process.cwd(), host: "stepwise/esbuild" });
  let watchSent = false;

  build.onStart(() => {
    watchSent = false;
    const error = session.start(build.initialOptions.tsconfig);
    return error ? { errors: [{ text: error }] } : undefined;
  });

  build.onLoad({ filter: SOURCE_FILTER, namespace: "file" }, (args): OnLoadResult | undefined => {
    const result = load(args);
    // The program's files (and tsconfig), so watch mode rebuilds when a file the rules read
    // changes, even one the bundle never loads (types, type-only imports).
    if (session.watchFiles.length === 0 || watchSent) return result;
    watchSent = true;
    return { ...result, watchFiles: [...session.watchFiles] };
  });

  const load = (args: { path: string; suffix?: string }): OnLoadResult | undefined => {
    if (args.suffix) return undefined;
    const report = session.transform(args.path);
    if (!report) return undefined;
    const errors = report.errors.map(toMessage);
    const warnings = report.warnings.map(toMessage);
    if (errors.length > 0) return { errors, warnings };
    // Warnings alone on an untouched file: hand esbuild the text with the loader it would have picked.
    // The rewritten text is still the user's language: esbuild compiles it as it would the original, tsconfig and all.
    return { contents: report.contents ?? report.text, loader: defaultLoader(args.path, build), warnings };
  };

  // The check at the end needs to know which files the bundle holds (the metafile's inputs).
  build.initialOptions.metafile = true;
  build.onEnd((res) => {
    if (res.errors.length === 0 && res.metafile) {
      const cwd = session.cwd;
      const meta = res.metafile;
      // Inputs that put bytes into an output; a module esbuild tree-shook entirely is not in the bundle.
      const modules = Object.values(meta.outputs).flatMap((o) => Object.entries(o.inputs).filter(([, i]) => i.bytesInOutput > 0).map(([p]) => resolve(cwd, p)));
      const outputs = () =>
        res.outputFiles
          ? res.outputFiles.filter((f) => !f.path.endsWith(".map")).map((f) => ({ fileName: f.path, code: f.text, map: mapOf(res.outputFiles!, f.path) }))
          : Object.keys(meta.outputs).filter((o) => !o.endsWith(".map")).flatMap((o) => readOutput(resolve(cwd, o)));
      const errors = session.checkUnrewritten(modules, outputs).map(toMessage);
      // A failed check writes no manifest: the build is not one whose IDs can be trusted.
      session.end(errors.length > 0);
      return errors.length > 0 ? { errors } : undefined;
    }
    session.end(res.errors.length > 0);
    return undefined;
  });
}

/** A written output's code; its map (a sibling .map) is read by verify from the sourceMappingURL. */
function readOutput(path: string): VerifyOutput[] {
  try {
    return [{ fileName: path, code: readFileSync(path, "utf8") }];
  } catch {
    return [];
  }
}

/** With write: false the map is not on disk: the output file beside it holds it. */
function mapOf(files: readonly OutputFile[], path: string): RawMap | undefined {
  const f = files.find((o) => o.path === path + ".map");
  return f ? (JSON.parse(f.text) as RawMap) : undefined;
}

// ---- diagnostics as esbuild messages ------------------------------------------------------

function toMessage(m: HostMessage): PartialMessage {
  return { id: m.code, text: m.text, location: location(m.location), notes: m.notes.map((n) => ({ text: n.text, location: location(n.location) })) };
}

/** esbuild's location: 1-based line, 0-based column and length in UTF-8 bytes, the line's text. */
function location(l: HostMessage["location"]): PartialMessage["location"] {
  if (!l || !("line" in l)) return l;
  return { file: l.file, namespace: "file", line: l.line, column: l.byteColumn, length: l.byteLength, lineText: l.lineText, suggestion: "" };
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
