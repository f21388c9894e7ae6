/**
 * `import stepwise from "stepwise/vite"`: the tags and markers compiled in by Vite, with
 * the rules and IDs of every other host. Options: StepwisePluginOptions (unplugin.ts).
 */
import { unplugin, type StepwisePluginOptions } from "./unplugin.js";

export type { StepwisePluginOptions };
export const stepwise = unplugin.vite;
export default stepwise;
