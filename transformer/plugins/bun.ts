/**
 * `import stepwise from "stepwise/bun"`: for `Bun.build({ plugins: [stepwise()] })`, and as
 * a runtime plugin, `Bun.plugin(stepwise())` in a preload (bunfig.toml `preload`), so
 * `bun run app.ts` compiles the tags in as files load. Options: StepwisePluginOptions.
 */
import { unplugin, type StepwisePluginOptions } from "./unplugin.js";

export type { StepwisePluginOptions };

/** Bun's plugin shape (its types come with bun-types, not a dependency here). */
type BunPlugin = ReturnType<typeof unplugin.bun>;

export function stepwise(options?: StepwisePluginOptions): BunPlugin {
  const plugin = unplugin.bun(options);
  return {
    ...plugin,
    setup(build: Parameters<BunPlugin["setup"]>[0]) {
      // A runtime plugin (Bun.plugin) has no build to start or end: files are transformed as they load.
      const b = build as { onStart?: unknown; onEnd?: unknown };
      const patched = typeof b.onStart === "function" && typeof b.onEnd === "function" ? build : (Object.assign(Object.create(build as object), { onStart() {}, onEnd() {} }) as typeof build);
      return plugin.setup(patched);
    },
  };
}

export default stepwise;
