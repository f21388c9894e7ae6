/**
 * SW1002: no `send`, `setEvent`, `recv`, `getEvent` or durable `sleep` inside a step or
 * transaction, directly or through helpers. They are durable operations of the workflow:
 * a step may run again on retry or recovery, which would repeat them.
 */
import type { SwDiagnostic } from "../diagnostics.js";
import type { Root, Site } from "./context.js";
import { at, chainText, distinct } from "./shared.js";

export function checkMessagingInStep(root: Root, sites: Site[]): SwDiagnostic[] {
  if (root.kind === "workflow") return [];
  const out: SwDiagnostic[] = [];
  for (const site of distinct(sites)) {
    if (site.effect.kind !== "messaging") continue;
    const op = site.effect.op;
    out.push(at("SW1002", "error", root.sf, site.node,
      `${root.kind} ${root.name} calls ${op} (${chainText(root, site)}): it is a durable operation of the workflow, and a ${root.kind} ` +
        `may run again on retry or recovery, which would repeat it. Call ${op} from the workflow body instead` +
        `${op.endsWith("send") || op.endsWith("setEvent") ? `, with what the ${root.kind} returns` : ""}.`));
  }
  return out;
}
