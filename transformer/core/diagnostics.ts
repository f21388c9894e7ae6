/**
 * The one diagnostic shape the core produces. Every host (tspc, esbuild, the CLI,
 * the language service) converts it to its own form; the core never prints.
 */
import type * as ts from "typescript";
import type { TS } from "./ts.js";

export type SwCode = "SW1001" | "SW1002" | "SW1003" | "SW1004" | "SW1005" | "SW1006" | "SW1007" | "SW1008" | "SW1101" | "SW1102";

export interface SwLocation {
  /** File name as the compiler knows it. */
  fileName: string;
  start: number;
  length: number;
}

export interface SwDiagnostic extends SwLocation {
  code: SwCode;
  category: "error" | "warning";
  /** The message without the code; hosts prefix "SW1003 " so every host shows the same text. */
  message: string;
  /** Other places worth showing, e.g. the first definition of a duplicate ID. */
  related?: (SwLocation & { message: string })[];
}

/**
 * tsc prints `error TS<number>`, so a string code would come out as "TSSW1003".
 * Each SW code maps one-to-one to a number in a range TypeScript does not use.
 */
export const NUMERIC_CODE_BASE = 990000;

export function numericCode(code: string): number {
  return NUMERIC_CODE_BASE + Number(code.slice(2));
}

export function swCodeOf(numeric: number): string | undefined {
  const n = numeric - NUMERIC_CODE_BASE;
  return n >= 1000 && n < 10000 ? `SW${n}` : undefined;
}

export function messageText(d: SwDiagnostic): string {
  return `${d.code} ${d.message}`;
}

/** Converts to a ts.Diagnostic; `getFile` maps a file name back to the program's source file. */
export function toTsDiagnostic(
  tsi: TS,
  d: SwDiagnostic,
  getFile: (fileName: string) => ts.SourceFile | undefined,
): ts.Diagnostic {
  const category = d.category === "error" ? tsi.DiagnosticCategory.Error : tsi.DiagnosticCategory.Warning;
  return {
    file: getFile(d.fileName),
    start: d.start,
    length: d.length,
    category,
    code: numericCode(d.code),
    messageText: messageText(d),
    source: "stepwise",
    relatedInformation: d.related?.map((r) => ({
      file: getFile(r.fileName),
      start: r.start,
      length: r.length,
      category: tsi.DiagnosticCategory.Message,
      code: numericCode(d.code),
      messageText: r.message,
    })),
  };
}

/** `file(line,col): error TS991003: SW1003 ...`, the way tsc prints it without --pretty. */
export function formatDiagnostic(d: SwDiagnostic, sf: ts.SourceFile, fileName = d.fileName): string {
  const { line, character } = sf.getLineAndCharacterOfPosition(d.start);
  return `${fileName}(${line + 1},${character + 1}): ${d.category} TS${numericCode(d.code)}: ${messageText(d)}`;
}

/** "src/a.ts:12" for messages that name another place. */
export function describePlace(sf: Pick<ts.SourceFile, "fileName" | "getLineAndCharacterOfPosition">, pos: number, fileName = sf.fileName): string {
  return `${fileName}:${sf.getLineAndCharacterOfPosition(pos).line + 1}`;
}

export function diag(
  code: SwCode,
  sf: ts.SourceFile,
  node: { start: number; length: number } | ts.Node,
  message: string,
): SwDiagnostic {
  const range =
    "kind" in node ? { start: node.getStart(sf), length: node.getEnd() - node.getStart(sf) } : node;
  return { code, category: "error", fileName: sf.fileName, start: range.start, length: range.length, message };
}
