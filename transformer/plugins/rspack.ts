/**
 * `import stepwise from "stepwise/rspack"`: the tags and markers compiled in by Rspack, with
 * the rules and IDs of every other host. Options: StepwisePluginOptions (unplugin.ts).
 */
import { unplugin, type StepwisePluginOptions } from "./unplugin.js";

export type { StepwisePluginOptions };
export const stepwise = unplugin.rspack;
export default stepwise;
