/**
 * `import stepwise from "stepwise/webpack"`: the tags and markers compiled in by Webpack, with
 * the rules and IDs of every other host. Options: StepwisePluginOptions (unplugin.ts).
 */
import { unplugin, type StepwisePluginOptions } from "./unplugin.js";

export type { StepwisePluginOptions };
export const stepwise = unplugin.webpack;
export default stepwise;
