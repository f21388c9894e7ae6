/** Message pieces the rules share. */
import type * as ts from "typescript";
import type { SwCode, SwDiagnostic } from "../diagnostics.js";
import type { Root, Site } from "./context.js";

/** `chargeCard -> notify -> Stepwise.send` */
export function chainText(root: Root, site: Site): string {
  return [root.name, ...site.effect.chain].join(" -> ");
}

export function at(code: SwCode, category: SwDiagnostic["category"], sf: ts.SourceFile, node: ts.Node | { start: number; length: number }, message: string): SwDiagnostic {
  const range = "kind" in node ? { start: node.getStart(sf), length: node.getEnd() - node.getStart(sf) } : node;
  return { code, category, fileName: sf.fileName, start: range.start, length: range.length, message };
}

/** One diagnostic per call and operation: a helper that sends twice is reported once. */
export function distinct(sites: Site[]): Site[] {
  const seen = new Set<string>();
  return sites.filter((s) => {
    const key = `${s.node.pos}|${s.effect.rule}|${s.effect.op}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
