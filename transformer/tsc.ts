/**
 * The ts-patch host: `"plugins": [{ "transform": "stepwise/transformer" }]` in tsconfig.json,
 * built with `tspc` (or plain `tsc` after `ts-patch install`).
 *
 * Options beside "transform":
 *   "manifest": "stepwise.manifest.json"   write the manifest (path relative to the tsconfig)
 *   "warnings": "print" | "diagnostics" | "off"
 *       SW1101/SW1102. tsc exits non-zero on any diagnostic it reports, warnings included, so
 *       by default ("print") they are printed in tsc's format without failing the build;
 *       "diagnostics" reports them as compiler diagnostics (the build then exits non-zero).
 */
import type * as ts from "typescript";
import type { TS } from "./core/ts.js";
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname, relative, resolve, sep } from "node:path";
import { analyzeProgram, createBeforeTransformer, formatDiagnostic, toTsDiagnostic, type ProgramAnalysis } from "./core/index.js";

/** What ts-patch passes a "program" pattern transformer (declared here so users need no ts-patch types). */
export interface TransformerExtras {
  ts: TS;
  addDiagnostic: (diag: ts.Diagnostic) => number;
  removeDiagnostic?: (index: number) => void;
  diagnostics?: readonly ts.Diagnostic[];
  library?: string;
}

export interface StepwisePluginConfig {
  manifest?: string;
  warnings?: "print" | "diagnostics" | "off";
  [key: string]: unknown;
}

// ts-patch calls the factory on every emit of a program; analyse and report once per program.
const analyses = new WeakMap<ts.Program, ProgramAnalysis>();

export default function stepwiseTransformer(
  program: ts.Program,
  config: StepwisePluginConfig = {},
  extras?: TransformerExtras,
): ts.TransformerFactory<ts.SourceFile> {
  if (!extras?.ts) {
    throw new Error(
      'stepwise/transformer is a ts-patch "program" transformer: configure it as { "transform": "stepwise/transformer" } ' +
        "without a \"type\" option, and build with tspc (or tsc after `ts-patch install`).",
    );
  }
  const tsi = extras.ts;
  let analysis = analyses.get(program);
  if (!analysis) {
    const options = program.getCompilerOptions();
    const projectDir = options.configFilePath ? dirname(String(options.configFilePath)) : program.getCurrentDirectory();
    const display = (f: string) => relative(projectDir, f).split(sep).join("/");
    analysis = analyzeProgram(tsi, program, display);
    analyses.set(program, analysis);
    const warnings = config.warnings ?? "print";
    if (warnings !== "print" && warnings !== "diagnostics" && warnings !== "off") {
      throw new Error(`stepwise/transformer: "warnings" must be "print", "diagnostics" or "off", got ${JSON.stringify(warnings)}.`);
    }
    for (const d of analysis.diagnostics) {
      if (d.category === "warning" && warnings !== "diagnostics") {
        if (warnings === "print") {
          const sf = program.getSourceFile(d.fileName);
          if (sf) tsi.sys.write(formatDiagnostic(d, sf, display(d.fileName)) + tsi.sys.newLine);
        }
        continue;
      }
      extras.addDiagnostic(toTsDiagnostic(tsi, d, (f) => program.getSourceFile(f)));
    }
    if (typeof config.manifest === "string") {
      const out = resolve(projectDir, config.manifest);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify(analysis.manifest(), null, 2) + "\n");
    }
  }
  return createBeforeTransformer(tsi, analysis);
}
