/**
 * The TypeScript language-service plugin: the editor shows Stepwise's diagnostics (every
 * SW code, with the same messages as tspc and `stepwise check`) as the code is typed.
 *
 *   // tsconfig.json
 *   "compilerOptions": { "plugins": [{ "name": "stepwise/language-service" }] }
 *
 * tsserver loads plugins with require() and Node10 resolution (no "exports"), so the
 * package ships a CommonJS bundle of this file (dist/language-service.cjs, built by
 * `npm run build`) behind language-service/index.js. The plugin uses the TypeScript
 * instance tsserver hands it, never its own.
 */
import type * as ts from "typescript";
import type { TS } from "./core/ts.js";
import { analyzeProgram, checkRules, toTsDiagnostic, type ProgramAnalysis } from "./core/index.js";

export interface StepwisePluginModule {
  create(info: { languageService: ts.LanguageService; project?: { projectService?: { logger?: { info(s: string): void } } } }): ts.LanguageService;
}

export default function init(modules: { typescript: TS }): StepwisePluginModule {
  const tsi = modules.typescript;
  return {
    create(info) {
      const ls = info.languageService;
      const log = (s: string) => info.project?.projectService?.logger?.info(`[stepwise] ${s}`);
      // Tags, configs and IDs of the whole program, once per program version; the rules per file asked for.
      const analyses = new WeakMap<ts.Program, ProgramAnalysis>();
      const proxy = Object.create(null) as ts.LanguageService;
      for (const key of Object.keys(ls) as (keyof ts.LanguageService)[]) {
        const member = ls[key];
        (proxy as unknown as Record<string, unknown>)[key] = typeof member === "function" ? (member as Function).bind(ls) : member;
      }
      proxy.getSemanticDiagnostics = (fileName: string) => {
        const prior = ls.getSemanticDiagnostics(fileName);
        try {
          return [...prior, ...stepwiseDiagnostics(fileName)];
        } catch (e) {
          // A bug here must not take the editor's own diagnostics with it.
          log(`diagnostics of ${fileName} failed: ${(e as Error).stack ?? e}`);
          return prior;
        }
      };
      function stepwiseDiagnostics(fileName: string): ts.Diagnostic[] {
        const program = ls.getProgram();
        const sf = program?.getSourceFile(fileName);
        if (!program || !sf || sf.isDeclarationFile) return [];
        let analysis = analyses.get(program);
        if (!analysis) {
          analysis = analyzeProgram(tsi, program, undefined, { rules: false });
          analyses.set(program, analysis);
        }
        const own = [
          ...analysis.diagnostics.filter((d) => d.fileName === sf.fileName),
          ...checkRules(tsi, sf, { program, analyses: analysis.files }),
        ];
        return own.map((d) => toTsDiagnostic(tsi, d, (f) => program.getSourceFile(f)));
      }
      log("loaded");
      return proxy;
    },
  };
}
