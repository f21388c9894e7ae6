/**
 * `node --import stepwise/register app.ts` (or `tsx --import stepwise/register app.ts`):
 * rewrites the tagged functions of each file as it loads, with no build step (loader.ts).
 *
 * On Node 22.15+ the hook runs in the application's thread (module.registerHooks), which
 * adds next to nothing to a start; on Node 20, and beside tsx's own hooks (which run in a
 * hooks thread, where an in-thread hook would not see the files they load), it is
 * registered with module.register. Source maps are turned on, so a stack trace points at
 * the user's lines.
 */
import * as mod from "node:module";

process.setSourceMapsEnabled(true);

type RegisterHooks = (hooks: { load: typeof import("./loader.js").loadSync }) => void;
const registerHooks = (mod as unknown as { registerHooks?: RegisterHooks }).registerHooks;
// tsx's CLI passes its loader by path; `node --import tsx` by name.
const underTsx = process.execArgv.some((a) => a === "tsx" || a.startsWith("tsx/") || /[\\/]tsx[\\/]/.test(a));

if (registerHooks && !underTsx) {
  const { loadSync } = await import("./loader.js");
  registerHooks({ load: loadSync });
} else {
  mod.register("./loader.js", import.meta.url);
}
