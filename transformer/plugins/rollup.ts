/**
 * `import stepwise from "stepwise/rollup"`: the tags and markers compiled in by Rollup, with
 * the rules and IDs of every other host. Options: StepwisePluginOptions (unplugin.ts).
 */
import { unplugin, type StepwisePluginOptions } from "./unplugin.js";

export type { StepwisePluginOptions };
export const stepwise = unplugin.rollup;
export default stepwise;
