/**
 * `import stepwise from "stepwise/bun"`: for `Bun.build({ plugins: [stepwise()] })`, and as
 * a runtime plugin, `Bun.plugin(stepwise())` in a preload (bunfig.toml `preload`, or
 * `bun --preload`), so `bun run app.ts` compiles the tags in as files load.
 * Options: StepwisePluginOptions (unplugin.ts).
 *
 * Bun.build goes through unplugin's bun host, like the other bundlers. A runtime plugin
 * has no build (no start, end or config) and Bun requires every onLoad it matches to
 * answer with contents, so that mode answers from the same build session itself.
 */
import { extname, resolve } from "node:path";
import { readFileSync } from "node:fs";
import { BuildSession, formatHostMessage } from "../session.js";
import { unplugin, type StepwisePluginOptions } from "./unplugin.js";

export type { StepwisePluginOptions };

/** Bun's plugin shape (its types come with bun-types, not a dependency here). */
type BunPlugin = ReturnType<typeof unplugin.bun>;
type Builder = Parameters<BunPlugin["setup"]>[0];
interface RuntimeBuilder {
  onLoad(opts: { filter: RegExp }, cb: (args: { path: string }) => { contents: string; loader: string }): void;
}

// The app's own scripts; a package's files are left to Bun (as includeNodeModules: false).
const OWN_SOURCES = /^(?!.*[\\/]node_modules[\\/]).*\.(?:[cm]?tsx?|[cm]?jsx?)$/;
const ANY_SOURCE = /\.(?:[cm]?tsx?|[cm]?jsx?)$/;

export function stepwise(options: StepwisePluginOptions = {}): BunPlugin {
  const plugin = unplugin.bun(options);
  return {
    ...plugin,
    setup(build: Builder) {
      const b = build as { config?: unknown };
      if (b.config) return plugin.setup(build);
      setupRuntime(build as unknown as RuntimeBuilder, options);
    },
  };
}

function setupRuntime(build: RuntimeBuilder, options: StepwisePluginOptions): void {
  const session = new BuildSession(options, { cwd: resolve(options.root ?? process.cwd()), host: "stepwise/bun" });
  // typeCheck: one program for the process, built before the first file loads.
  const error = session.start();
  if (error) throw new Error(error);
  build.onLoad({ filter: options.includeNodeModules ? ANY_SOURCE : OWN_SOURCES }, (args) => {
    const text = readFileSync(args.path, "utf8");
    const report = session.transform(args.path, text);
    for (const w of report?.warnings ?? []) console.warn(formatHostMessage(w, "warning"));
    if (report && report.errors.length > 0) throw new Error(report.errors.map((e) => formatHostMessage(e, "error")).join("\n"));
    if (report?.contents !== undefined) session.end();
    return { contents: report?.contents ?? text, loader: loaderOf(args.path) };
  });
}

function loaderOf(path: string): string {
  const ext = extname(path);
  if (ext === ".tsx") return "tsx";
  if (ext === ".jsx") return "jsx";
  return /^\.[cm]?ts$/.test(ext) ? "ts" : "js";
}

export default stepwise;
