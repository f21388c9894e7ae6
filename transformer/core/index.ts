/**
 * The core every host calls: analyse a program (or single files), then rewrite each
 * file as the compiler emits it. Hosts only convert diagnostics and wire the factory in.
 */
import type * as ts from "typescript";
import type { TS } from "./ts.js";
import type { SwDiagnostic } from "./diagnostics.js";
import { buildManifest, findDuplicates, type IdEntry, type Manifest } from "./ids.js";
import { analyzeFile, mightContainMarkers, PACKAGE, type FileAnalysis } from "./markers.js";
import { emitsCommonJS, rewriteFile } from "./rewrite.js";
import { checkRules } from "./rules/index.js";

export { analyzeFile, mightContainMarkers, type FileAnalysis, type Operation } from "./markers.js";
export { emitsCommonJS, rewriteFile } from "./rewrite.js";
export * from "./diagnostics.js";
export { buildManifest, findDuplicates, type Manifest, type ManifestEntry } from "./ids.js";
export { checkRules, ruleContext, RuleContext, type RuleOptions } from "./rules/index.js";

export interface ProgramAnalysis {
  files: Map<ts.SourceFile, FileAnalysis>;
  /** Every diagnostic of the build, per-file ones first, then duplicate IDs. */
  diagnostics: SwDiagnostic[];
  ids: IdEntry[];
  manifest(): Manifest;
}

/**
 * Analyses every source file of the build. Only files whose text mentions a tag or the
 * package are parsed further, so a large project with few steps pays little.
 */
export function analyzeProgram(
  tsi: TS,
  program: ts.Program,
  displayName: (fileName: string) => string = (f) => f,
  /** `rules: false` leaves out the misuse rules (a host that checks them per file, like the language service). */
  opts: { rules?: boolean } = {},
): ProgramAnalysis {
  const checker = program.getTypeChecker();
  const files = new Map<ts.SourceFile, FileAnalysis>();
  const own = program.getSourceFiles().filter((sf) => !sf.isDeclarationFile && !program.isSourceFileFromExternalLibrary(sf));
  // A user's module that mentions the package may re-export a marker under another name;
  // files importing it are analysed even if they never mention "stepwise" themselves.
  const mentions = new Set(own.filter((sf) => sf.text.includes(PACKAGE)));
  const importsFromMentioning = (sf: ts.SourceFile) =>
    mentions.size > 0 &&
    sf.statements.some((st) => {
      if (!(tsi.isImportDeclaration(st) || tsi.isExportDeclaration(st)) || !st.moduleSpecifier) return false;
      const target = checker.getSymbolAtLocation(st.moduleSpecifier)?.valueDeclaration;
      return !!target && tsi.isSourceFile(target) && mentions.has(target);
    });
  for (const sf of own) {
    const a = analyzeFile(tsi, sf, { checker, force: !mightContainMarkers(sf.text, true) && importsFromMentioning(sf) });
    if (a.operations.length > 0 || a.diagnostics.length > 0) files.set(sf, a);
  }
  const result = collect(files, displayName);
  if (opts.rules === false) return result;
  // The misuse rules (SW1001, SW1002, SW1004, SW1101, SW1102), through the checker.
  for (const sf of own) {
    if (files.has(sf) || sf.text.includes("runStep")) result.diagnostics.push(...checkRules(tsi, sf, { program, analyses: files }));
  }
  return result;
}

/** The same over files without a program (transpile-only hosts): duplicates only within these files. */
export function analyzeFiles(tsi: TS, sources: readonly ts.SourceFile[], displayName?: (f: string) => string): ProgramAnalysis {
  const files = new Map<ts.SourceFile, FileAnalysis>();
  for (const sf of sources) files.set(sf, analyzeFile(tsi, sf));
  const result = collect(files, displayName);
  for (const sf of sources) result.diagnostics.push(...checkRules(tsi, sf, { analyses: files }));
  return result;
}

function collect(files: Map<ts.SourceFile, FileAnalysis>, displayName: (f: string) => string = (f) => f): ProgramAnalysis {
  const ids = [...files.values()].flatMap((a) => a.ids);
  const diagnostics = [...[...files.values()].flatMap((a) => a.diagnostics), ...findDuplicates(ids, displayName)];
  return { files, diagnostics, ids, manifest: () => buildManifest(ids, displayName) };
}

/**
 * A `before` transformer. Files the analysis did not see (a transpile-only host) are
 * analysed on the way, by import, without a checker.
 */
export function createBeforeTransformer(
  tsi: TS,
  analysis: ProgramAnalysis | undefined,
  onFileDiagnostics?: (sf: ts.SourceFile, diagnostics: SwDiagnostic[]) => void,
): ts.TransformerFactory<ts.SourceFile> {
  return (context) => (sf) => {
    let a = analysis?.files.get(sf);
    if (!a && !analysis) {
      a = analyzeFile(tsi, sf);
      if (a.diagnostics.length > 0) onFileDiagnostics?.(sf, a.diagnostics);
    }
    if (!a || a.operations.length === 0) return sf;
    return rewriteFile(tsi, a, context, { commonjs: emitsCommonJS(tsi, sf, context.getCompilerOptions()) });
  };
}
