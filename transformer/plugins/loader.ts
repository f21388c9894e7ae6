/**
 * `stepwise/loader`: the rewrite as a webpack-style loader, for hosts that take loaders but
 * no plugins: Turbopack (wired by stepwise/next's withStepwise) and a plain webpack rule.
 * With webpack itself prefer stepwise/webpack, which adds SW1006 across the build and the
 * manifest; a loader sees one file at a time, so those two are left to `stepwise check`.
 *
 * One session per process and option set (loaders run in worker processes that outlive a
 * file), so the caches and the TypeScript instance are shared by every file the worker loads.
 */
import { BuildSession, formatHostMessage, type StepwiseBuildOptions } from "../session.js";

/** The options a loader rule may pass: plain data (Turbopack serializes them). */
export type StepwiseLoaderOptions = Pick<StepwiseBuildOptions, "includeNodeModules" | "cacheDir">;

interface LoaderContext {
  resourcePath: string;
  rootContext?: string;
  getOptions?(): StepwiseLoaderOptions | undefined;
  query?: unknown;
  async(): (err: Error | null, code?: string, map?: object) => void;
  emitWarning(e: Error): void;
}

const sessions = new Map<string, BuildSession>();

export default function stepwiseLoader(this: LoaderContext, source: string): void {
  const done = this.async();
  try {
    const options = this.getOptions?.() ?? (typeof this.query === "object" && this.query ? (this.query as StepwiseLoaderOptions) : {});
    const cwd = this.rootContext ?? process.cwd();
    const key = JSON.stringify([cwd, options.includeNodeModules ?? false, options.cacheDir ?? null]);
    let session = sessions.get(key);
    if (!session) sessions.set(key, (session = new BuildSession(options, { cwd, host: "stepwise/loader" })));
    const report = session.transform(this.resourcePath, source);
    if (!report) return done(null, source);
    for (const w of report.warnings) this.emitWarning(new Error(formatHostMessage(w, "warning")));
    if (report.errors.length > 0) return done(new Error(report.errors.map((e) => formatHostMessage(e, "error")).join("\n")));
    if (report.contents === undefined) return done(null, source);
    // The caches are written as files go: a loader is never told that the build ended.
    session.end();
    // The inline source map stays in the text: the host's compiler reads it and chains its own.
    done(null, report.contents);
  } catch (e) {
    done(e as Error);
  }
}
