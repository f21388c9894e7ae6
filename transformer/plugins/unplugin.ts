/**
 * The bundler plugin for Vite, Rollup, webpack, Rspack and bun, on unplugin, over the
 * same build session as the esbuild plugin (../session.ts): the same per-file rewrite,
 * caches, rules, SW1006 across the build and manifest. Each entry (vite.ts, rollup.ts, ...)
 * is this factory's output for one bundler.
 *
 * The transform runs first (`enforce: "pre"`), on the file's own text, so the rewrite's
 * positions and source map are the user's; the bundler's TypeScript compiler (esbuild,
 * oxc, SWC, ts-loader) then compiles the rewritten text as it would the original.
 */
import { createUnplugin, type UnpluginInstance } from "unplugin";
import { dirname, resolve } from "node:path";
import { BuildSession, formatHostMessage, SOURCE_FILTER, type StepwiseBuildOptions } from "../session.js";
import type { RawMap, VerifyOutput } from "../verify.js";

export type StepwisePluginOptions = StepwiseBuildOptions & {
  /** The project folder: file names in messages and the manifest are relative to it (default: the bundler's root or context, else the working directory). */
  root?: string;
};

const INLINE_MAP = "\n//# sourceMappingURL=data:application/json;base64,";

export const unplugin: UnpluginInstance<StepwisePluginOptions | undefined, false> = createUnplugin<StepwisePluginOptions | undefined, false>(
  (options = {}, meta) => {
    const host = `stepwise/${meta.framework}`;
    let root = options.root;
    let session: BuildSession | undefined;
    // typeCheck in a dev server: a file changed since the program was built.
    let programStale = false;
    // Rollup and Vite's build stop at the first this.error: errors wait for buildEnd, so one
    // build reports every file's (as esbuild and webpack do). A dev server reports each file's at once.
    let deferErrors = meta.framework === "rollup";
    let deferred: string[] = [];
    // Rollup and Vite: the chunks hold the modules they rendered, their code and maps.
    const generateBundle = function (this: { error(e: string): never }, out: OutputOptionsLike, bundle: object): void {
      if (!session) return;
      const s = session;
      const chunks = (Object.values(bundle) as ChunkLike[]).filter((c) => c.type === "chunk");
      // A module rollup tree-shook entirely renders nothing.
      const modules = chunks.flatMap((c) => Object.entries(c.modules ?? {}).filter(([, m]) => m.renderedLength > 0).map(([id]) => id));
      const base = resolve(s.cwd, out.dir ?? (out.file ? dirname(out.file) : "."));
      const outputs = (): VerifyOutput[] => chunks.map((c) => ({ fileName: resolve(base, c.fileName), code: c.code ?? "", map: c.map ?? undefined }));
      const problems = s.checkUnrewritten(modules, outputs);
      if (problems.length === 0) return;
      s.failCheck();
      this.error(`stepwise: ${problems.length} tagged function(s) not rewritten:\n${problems.map((p) => formatHostMessage(p, "error")).join("\n")}`);
    };
    const sessionOf = () => (session ??= new BuildSession(options, { cwd: resolve(root ?? process.cwd()), host }));

    return {
      name: "stepwise",
      enforce: "pre",
      buildStart() {
        const s = sessionOf();
        const error = s.start();
        programStale = false;
        deferred = [];
        if (error) throw new Error(error);
        // Watch mode rebuilds when a file the type-aware rules read changes, even one the bundle never loads.
        for (const f of s.watchFiles) this.addWatchFile(f);
      },
      watchChange(id, change) {
        programStale = true;
        if (change.event === "delete") session?.forgetIds(cleanId(id));
      },
      transform: {
        filter: { id: { include: [/\.(?:[cm]?tsx?|[cm]?jsx?)(?:\?.*)?$/], exclude: [/^\0/] } },
        handler(code, id) {
          const path = cleanId(id);
          if (!SOURCE_FILTER.test(path)) return undefined;
          const s = sessionOf();
          if (programStale) {
            programStale = false;
            const error = s.refreshProgram();
            if (error) this.error(error);
          }
          const report = s.transform(path, code);
          if (!report) return undefined;
          for (const w of report.warnings) this.warn(formatHostMessage(w, "warning"));
          if (report.errors.length > 0) {
            const text = report.errors.map((e) => formatHostMessage(e, "error")).join("\n");
            if (deferErrors) deferred.push(text);
            else this.error(text);
            return undefined;
          }
          if (report.contents === undefined) return undefined;
          return splitInlineMap(report.contents);
        },
      },
      buildEnd() {
        session?.end();
        if (deferred.length > 0) throw new Error(`stepwise: ${deferred.length} file(s) with errors; fix them and build again:\n${deferred.join("\n")}`);
      },
      rollup: { generateBundle },
      vite: {
        generateBundle,
        configResolved(config) {
          root ??= config.root;
          deferErrors = config.command === "build";
        },
        configureServer() {
          // The dev server runs SSR modules in this process and runs an edited one again on a hot
          // update: the runtime then lets its workflows take their IDs again instead of
          // refusing a second registration (runtime/registry.ts).
          (globalThis as Record<symbol, unknown>)[Symbol.for("stepwise.reregister")] = true;
        },
      },
      webpack(compiler) {
        root ??= compiler.options.context;
        checkAtEmit(compiler as unknown as CompilerLike, () => session);
      },
      rspack(compiler) {
        root ??= compiler.options.context;
        checkAtEmit(compiler as unknown as CompilerLike, () => session);
      },
    };
  },
);

/** What the check reads of webpack's and Rspack's compiler (the same shape in both). */
interface CompilerLike {
  hooks: { emit: { tap(name: string, fn: (compilation: CompilationLike) => void): void } };
}
interface CompilationLike {
  modules: Iterable<{ resource?: string }>;
  outputOptions: { path?: string };
  getAssets(): readonly { name: string; source: { source(): string | Buffer } }[];
  errors: Error[];
}

/**
 * webpack and Rspack: at emit, when the assets are minified and their source maps made.
 * Modules webpack dropped whole (sideEffects) are still in compilation.modules; the
 * source maps tell that their functions are not in the output.
 */
function checkAtEmit(compiler: CompilerLike, sessionOf: () => BuildSession | undefined): void {
  compiler.hooks.emit.tap("stepwise", (compilation) => {
    const s = sessionOf();
    if (!s) return;
    const modules = [...compilation.modules].flatMap((m) => (m.resource ? [m.resource] : []));
    const outputs = (): VerifyOutput[] => {
      const assets = compilation.getAssets();
      const text = (a: (typeof assets)[number]) => String(a.source.source());
      const base = resolve(s.cwd, compilation.outputOptions.path ?? ".");
      return assets
        .filter((a) => /\.[cm]?js$/.test(a.name))
        .map((a) => {
          const map = assets.find((m) => m.name === a.name + ".map");
          return { fileName: resolve(base, a.name), code: text(a), map: map ? ownSources(JSON.parse(text(map)) as RawMap, s.cwd) : undefined };
        });
    };
    const problems = s.checkUnrewritten(modules, outputs);
    if (problems.length === 0) return;
    s.failCheck();
    for (const p of problems) compilation.errors.push(new Error(formatHostMessage(p, "error")));
  });
}

/** webpack's `webpack://<name>/./src/a.ts` sources as the files they are, from the project folder. */
function ownSources(map: RawMap, context: string): RawMap {
  return { ...map, sourceRoot: undefined, sources: map.sources.map((src) => resolve(context, src.replace(/^webpack:\/\/[^/]*\//, ""))) };
}

/** What generateBundle reads of Rollup's types (rollup is not a dependency of this package). */
interface OutputOptionsLike {
  dir?: string;
  file?: string;
}
interface ChunkLike {
  type: "chunk" | "asset";
  fileName: string;
  code?: string;
  map?: RawMap | null;
  modules?: Record<string, { renderedLength: number }>;
}

/** A bundler's module ID as a file path: Vite adds queries (`?v=...`, `?import`). */
function cleanId(id: string): string {
  const q = id.indexOf("?");
  return q < 0 ? id : id.slice(0, q);
}

/** The rewrite's inline map as the bundler's own, which it chains with the maps of the plugins after this one. */
function splitInlineMap(contents: string): { code: string; map?: { version: number; sources: string[]; mappings: string; names: string[] } } {
  const at = contents.lastIndexOf(INLINE_MAP);
  if (at < 0) return { code: contents };
  const map = JSON.parse(Buffer.from(contents.slice(at + INLINE_MAP.length).trim(), "base64").toString("utf8"));
  return { code: contents.slice(0, at) + "\n", map };
}
