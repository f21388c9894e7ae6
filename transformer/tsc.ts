/**
 * The ts-patch host: `"plugins": [{ "transform": "stepwise/transformer" }]` in tsconfig.json,
 * built with `tspc` (or plain `tsc` after `ts-patch install`).
 *
 * Options beside "transform":
 *   "manifest": "stepwise.manifest.json"   write the manifest (path relative to the tsconfig)
 */
import type * as ts from "typescript";
import type { TS } from "./core/ts.js";
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname, relative, resolve, sep } from "node:path";
import { analyzeProgram, createBeforeTransformer, toTsDiagnostic, type ProgramAnalysis } from "./core/index.js";

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
    for (const d of analysis.diagnostics) extras.addDiagnostic(toTsDiagnostic(tsi, d, (f) => program.getSourceFile(f)));
    if (typeof config.manifest === "string") {
      const out = resolve(projectDir, config.manifest);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify(analysis.manifest(), null, 2) + "\n");
    }
  }
  return createBeforeTransformer(tsi, analysis);
}
