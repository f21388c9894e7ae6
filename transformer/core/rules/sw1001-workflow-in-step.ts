/**
 * SW1001: no workflow call, `Stepwise.startWorkflow` or enqueue inside a step or
 * transaction (and no transaction inside either, no step inside a transaction),
 * directly or through helpers, as the runtime refuses them.
 * A step may run again on retry or recovery; a workflow it started would start again.
 */
import type { SwDiagnostic } from "../diagnostics.js";
import type { Root, Site } from "./context.js";
import { at, chainText, distinct } from "./shared.js";

export function checkWorkflowInStep(root: Root, sites: Site[]): SwDiagnostic[] {
  if (root.kind === "workflow") return [];
  const out: SwDiagnostic[] = [];
  for (const site of distinct(sites)) {
    const e = site.effect;
    const chain = chainText(root, site);
    const where = `${root.kind} ${root.name}`;
    if (e.kind === "workflow-call") {
      out.push(at("SW1001", "error", root.sf, site.node,
        `${where} calls ${e.op} (${chain}): a ${root.kind} may run again on retry or recovery, and cannot start a workflow. ` +
          `Call the workflow from the workflow body instead.`));
    } else if (e.kind === "start-workflow") {
      const verb = e.detail === "enqueue" ? "enqueues a workflow" : "starts a workflow";
      out.push(at("SW1001", "error", root.sf, site.node,
        `${where} ${verb} with ${e.op} (${chain}): a ${root.kind} may run again on retry or recovery, which would start it again. ` +
          `${e.detail === "enqueue" ? "Enqueue" : "Start"} it from the workflow body instead.`));
    } else if (e.kind === "transaction-call") {
      out.push(at("SW1001", "error", root.sf, site.node,
        `${where} calls ${e.op} (${chain}): a transaction is a durable operation of the workflow, with its own checkpoint, ` +
          `and cannot run inside a ${root.kind}. Call it from the workflow body instead.`));
    } else if (e.kind === "step-call" && root.kind === "transaction") {
      out.push(at("SW1001", "error", root.sf, site.node,
        `${where} calls ${e.op} (${chain}): a step's retries and checkpoint cannot take part in the transaction's rollback. ` +
          `Call the step from the workflow body, before or after the transaction.`));
    }
  }
  return out;
}
