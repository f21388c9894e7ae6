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
import { resolve } from "node:path";
import { BuildSession, formatHostMessage, SOURCE_FILTER, type StepwiseBuildOptions } from "../session.js";

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
      vite: {
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
      },
      rspack(compiler) {
        root ??= compiler.options.context;
      },
    };
  },
);

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
