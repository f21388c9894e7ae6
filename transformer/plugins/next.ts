/**
 * `withStepwise(nextConfig)` from `stepwise/next`: the tags and markers compiled into a
 * Next.js app, under `next build --webpack`/`next dev --webpack` (the webpack plugin,
 * stepwise/webpack, with SW1006 across the build and the manifest) and under Turbopack
 * (`next dev`, `next build`: stepwise/loader as a loader rule on the app's own files that
 * mention a tag or the package).
 *
 * It also lists `stepwise` in serverExternalPackages: the runtime is loaded by Node, not
 * bundled, so the server has one registry of workflows and PGlite finds its own files.
 */
import { fileURLToPath } from "node:url";
import webpackPlugin from "./webpack.js";
import type { StepwisePluginOptions } from "./unplugin.js";

type WebpackConfig = { plugins?: unknown[] } & Record<string, unknown>;
interface WebpackContext {
  isServer: boolean;
  nextRuntime?: "nodejs" | "edge";
  dev: boolean;
}
/** The parts of Next's config this touches (Next's own type is not a dependency of this package). */
export interface NextConfigLike {
  webpack?: ((config: WebpackConfig, context: WebpackContext) => WebpackConfig) | null;
  turbopack?: { rules?: Record<string, unknown> } & Record<string, unknown>;
  serverExternalPackages?: string[];
  [key: string]: unknown;
}

export type WithStepwiseOptions = Pick<StepwisePluginOptions, "manifest" | "typeCheck" | "tsconfig" | "includeNodeModules" | "cacheDir">;

const LOADER = fileURLToPath(new URL("./loader.js", import.meta.url));
// The files Turbopack hands to the loader: the app's own scripts that mention a tag or the
// package (what the plugin's own first test looks for), so the rest never reach Node.
const CONDITION = {
  all: [{ not: "foreign" }, { path: /\.[cm]?[jt]sx?$/ }, { content: /@(?:step|workflow|transaction)(?![\w$-])|stepwise/ }],
};

export function withStepwise<C extends NextConfigLike>(nextConfig: C = {} as C, options: WithStepwiseOptions = {}): C {
  // Next evaluates this config in the server process, where instrumentation.ts and each route
  // bundle carry their own copy of a module that defines workflows: the runtime lets the later
  // copy take the ID rather than refuse it as a second workflow (runtime/registry.ts).
  (globalThis as Record<symbol, unknown>)[Symbol.for("stepwise.reregister")] = true;
  const userWebpack = nextConfig.webpack;
  const { manifest, ...rest } = options;
  const rules = { ...(nextConfig.turbopack?.rules ?? {}) };
  if ("*" in rules) throw new Error(`stepwise/next: your turbopack.rules already has a "*" rule; add stepwise's by hand: { condition: ..., loaders: ["stepwise/loader"] } (see docs/compiling.md#nextjs).`);
  rules["*"] = { condition: CONDITION, loaders: [{ loader: LOADER, options: { includeNodeModules: rest.includeNodeModules ?? false, ...(rest.cacheDir !== undefined ? { cacheDir: rest.cacheDir } : {}) } }] };
  return {
    ...nextConfig,
    serverExternalPackages: [...new Set([...(nextConfig.serverExternalPackages ?? []), "stepwise"])],
    turbopack: { ...nextConfig.turbopack, rules },
    webpack(config: WebpackConfig, context: WebpackContext) {
      const out = userWebpack ? userWebpack(config, context) : config;
      // Each of Next's compilers (server, edge, client) compiles the tags in; the Node server's writes the manifest.
      const own = context.isServer && context.nextRuntime === "nodejs" ? manifest : undefined;
      out.plugins = [...(out.plugins ?? []), webpackPlugin({ ...rest, ...(own ? { manifest: own } : {}) })];
      return out;
    },
  };
}

export default withStepwise;

