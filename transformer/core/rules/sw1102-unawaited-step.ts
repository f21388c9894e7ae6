/**
 * SW1102 (warning): a step's promise in a workflow that is not consumed (RuleContext.isConsumed
 * says what counts: awaited, returned, passed to a call, kept and read; not dropped by a
 * statement, a forEach or a bare map). The workflow can end before the step is recorded,
 * and its failure goes unseen.
 */
import type { SwDiagnostic } from "../diagnostics.js";
import type { Root, Site } from "./context.js";
import { at, chainText, distinct } from "./shared.js";

export function checkUnawaitedStep(root: Root, sites: Site[]): SwDiagnostic[] {
  if (root.kind !== "workflow") return [];
  const out: SwDiagnostic[] = [];
  for (const site of distinct(sites)) {
    if (site.effect.kind !== "unawaited") continue;
    if (site.effect.detail === "callback") {
      out.push(at("SW1102", "warning", root.sf, site.node,
        `the promise of ${site.effect.op} is awaited only inside a callback whose own promise is dropped, in workflow ${root.name} ` +
          `(${chainText(root, site)}): the workflow can finish before it is recorded, and its failure goes unseen. ` +
          `Use a for...of loop with await, or await Promise.all(items.map(...)).`));
      continue;
    }
    out.push(at("SW1102", "warning", root.sf, site.node,
      `the promise of ${site.effect.op} is never awaited in workflow ${root.name} (${chainText(root, site)}): the workflow can finish ` +
        `before it is recorded, and its failure goes unseen. Await it, return it, or pass it to Promise.all.`));
  }
  return out;
}
