/**
 * One file through the esbuild plugin's pipeline: parse, find the operations, run the
 * rules, insert the rewrite. The result is plain data, so that it can be kept in the
 * file cache (file-cache.ts); the plugin attaches a SourceText (the text and its lines)
 * to what it gets back, which is all the diagnostics need on the way out.
 */
import type * as ts from "typescript";
import { extname } from "node:path";
import type { TS } from "../core/ts.js";
import { analyzeFile, checkRules, type FileAnalysis, type SwDiagnostic } from "../core/index.js";
// Not re-exported by core/index.js: the other hosts have no use for magic-string.
import { rewriteText } from "../core/rewrite-text.js";
import type { IdEntry, SourceText } from "../core/ids.js";

/** An ID the file defines, without its source file (the receiver attaches one). */
export type IdRecord = Omit<IdEntry, "sf">;

export interface FileOutcome {
  /** The rewritten text with an inline source map; undefined when there is nothing to rewrite or an error stops the build. */
  contents?: string;
  diagnostics: SwDiagnostic[];
  ids: IdRecord[];
  /** The file does not parse: it is left to esbuild, which reports the syntax error where it is. */
  syntaxError?: true;
}

/** The syntactic pipeline: no type checker, the rules see what one file shows. */
export function transformFile(tsi: TS, fileName: string, text: string): FileOutcome {
  const sf = parse(tsi, fileName, text);
  if (hasSyntaxErrors(sf)) return { diagnostics: [], ids: [], syntaxError: true };
  const analysis = analyzeFile(tsi, sf);
  return outcomeOf(tsi, analysis, syntacticRules(tsi, analysis));
}

/** Rewrites a file already analysed, with the rules' diagnostics (syntactic, or typeCheck's program's). */
export function outcomeOf(tsi: TS, analysis: FileAnalysis, rules: readonly SwDiagnostic[]): FileOutcome {
  const { sf } = analysis;
  const diagnostics = [...analysis.diagnostics, ...rules];
  const ids = analysis.ids.map(({ sf: _sf, ...rest }) => rest);
  // Errors fail the build: no point rewriting.
  if (analysis.operations.length === 0 || diagnostics.some((d) => d.category === "error")) return { diagnostics, ids };
  const out = rewriteText(tsi, analysis, { commonjs: isCommonJSFile(tsi, sf) })!;
  return { contents: withInlineMap(out.code, out.map), diagnostics, ids };
}

/** Whether the misuse rules have anything to look at: operations, or an inline Stepwise.runStep (what analyzeProgram checks). */
export function needsRules(analysis: FileAnalysis): boolean {
  return analysis.operations.length > 0 || analysis.diagnostics.length > 0 || analysis.sf.text.includes("runStep");
}

function syntacticRules(tsi: TS, analysis: FileAnalysis): SwDiagnostic[] {
  return needsRules(analysis) ? checkRules(tsi, analysis.sf, { analyses: new Map([[analysis.sf, analysis]]) }) : [];
}

export function parse(tsi: TS, fileName: string, text: string): ts.SourceFile {
  // Tags are read from comment text, so JSDoc need not be parsed (it is the slow part).
  return tsi.createSourceFile(
    fileName,
    text,
    { languageVersion: tsi.ScriptTarget.Latest, jsDocParsingMode: tsi.JSDocParsingMode.ParseNone },
    true,
    scriptKind(tsi, fileName),
  );
}

export function hasSyntaxErrors(sf: ts.SourceFile): boolean {
  return ((sf as unknown as { parseDiagnostics?: unknown[] }).parseDiagnostics?.length ?? 0) > 0;
}

function scriptKind(tsi: TS, fileName: string): ts.ScriptKind {
  const ext = extname(fileName);
  if (ext === ".tsx") return tsi.ScriptKind.TSX;
  if (ext === ".jsx") return tsi.ScriptKind.JSX;
  if (/^\.[cm]?js$/.test(ext)) return tsi.ScriptKind.JS;
  return tsi.ScriptKind.TS;
}

/** The map names the source by its absolute path, so esbuild's composed map finds the user's file wherever the output goes. */
function withInlineMap(code: string, map: object): string {
  return `${code}\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString("base64")}\n`;
}

/**
 * Whether the rewrite's helper import must be a require(): only for a file that is
 * CommonJS (a .cjs/.cts file, or one that uses require/module.exports) with no ESM syntax;
 * an import statement there would turn it into an ES module.
 */
function isCommonJSFile(tsi: TS, sf: ts.SourceFile): boolean {
  const esm = sf.statements.some(
    (st) =>
      tsi.isImportDeclaration(st) ||
      tsi.isExportDeclaration(st) ||
      tsi.isExportAssignment(st) ||
      (tsi.canHaveModifiers(st) && (tsi.getModifiers(st) ?? []).some((m) => m.kind === tsi.SyntaxKind.ExportKeyword)),
  );
  if (esm) return false;
  return /\.c[jt]s$/.test(sf.fileName) || /\brequire\s*\(|\bmodule\.exports\b|\bexports\.\w/.test(sf.text);
}

/**
 * A file's name, text and lines without a parse: what a diagnostic needs to point into a
 * file whose outcome came from the cache. Lines break where TypeScript's do (CR, LF, CRLF, U+2028, U+2029).
 */
export function textSource(fileName: string, text: string): SourceText & { getLineEndOfPosition(pos: number): number } {
  let starts: number[] | undefined;
  const lineStarts = () => {
    if (starts) return starts;
    starts = [0];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      if (c === 10 || c === 13 || c === 0x2028 || c === 0x2029) starts.push(i + 1);
    }
    return starts;
  };
  return {
    fileName,
    text,
    getLineAndCharacterOfPosition(pos: number) {
      const s = lineStarts();
      let lo = 0;
      let hi = s.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (s[mid]! <= pos) lo = mid;
        else hi = mid - 1;
      }
      return { line: lo, character: pos - s[lo]! };
    },
    getLineEndOfPosition(pos: number) {
      const { line } = this.getLineAndCharacterOfPosition(pos);
      const s = lineStarts();
      let end = line + 1 < s.length ? s[line + 1]! : text.length;
      // Back over the line break itself.
      while (end > s[line]! && /[\r\n\u2028\u2029]/.test(text[end - 1]!)) end--;
      return end;
    },
  };
}
