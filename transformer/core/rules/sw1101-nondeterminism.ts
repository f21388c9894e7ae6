/**
 * SW1101 (warning): a nondeterministic call in a workflow body outside any step, directly
 * or through helpers: on replay it returns something else and the workflow can take
 * another path than the one recorded. Calls inside steps are fine (their result is recorded).
 */
import type { SwDiagnostic } from "../diagnostics.js";
import type { Root, Site } from "./context.js";
import { at, chainText, distinct } from "./shared.js";

const FIX: Record<string, string> = {
  random: "Wrap it in a step, or use Stepwise.randomUUID(), whose result is recorded.",
  time: "Wrap it in a step, or use Stepwise.now(), whose result is recorded.",
  timer: "Use Stepwise.sleep(ms), a durable sleep, instead of a timer.",
  io: "Wrap it in a step, so its result is recorded.",
};

export function checkNondeterminism(root: Root, sites: Site[]): SwDiagnostic[] {
  if (root.kind !== "workflow") return [];
  const out: SwDiagnostic[] = [];
  for (const site of distinct(sites)) {
    const e = site.effect;
    if (e.kind !== "nondeterministic") continue;
    const why = e.detail === "timer" ? "a timer is lost when the process stops, and is not replayed" : "on replay it gives another result, and the workflow can take another path than the one recorded";
    out.push(at("SW1101", "warning", root.sf, site.node,
      `workflow ${root.name} calls ${e.op} outside a step (${chainText(root, site)}): ${why}. ${FIX[e.detail ?? "io"]}`));
  }
  return out;
}
