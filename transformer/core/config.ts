/**
 * A tag's config literal (`/** @step { maxAttempts: 5 } *\/`) and a marker's config
 * argument, parsed and validated against the schema the runtime uses
 * (runtime/config.ts), so compile time and run time agree on keys, types and ranges.
 */
import type * as ts from "typescript";
import type { TS } from "./ts.js";
import { CONFIG_SCHEMA, checkValue, suggestKey, type OperationKind } from "../../runtime/config.js";

export type Literal = string | number | boolean;

export interface ConfigEntry {
  key: string;
  value: Literal;
}

export interface ConfigProblem {
  /** Absolute position in the user's file. */
  start: number;
  length: number;
  message: string;
}

export interface ParsedConfig {
  entries: ConfigEntry[];
  problems: ConfigProblem[];
  /** True when a `name` key is present, literal or not. */
  hasName: boolean;
  /** The literal `name`, when there is one. */
  name?: string;
}

const LITERAL_HINT = "a tag config may only hold literals (numbers, strings, true, false)";

/**
 * Reads the config literal that follows a tag inside a comment.
 * `afterTag` is the position just after `@step`; `commentEnd` is the position of the closing `*\/`.
 * Returns undefined when the tag has no config.
 */
export function parseTagConfig(
  tsi: TS,
  text: string,
  afterTag: number,
  commentEnd: number,
  kind: OperationKind,
): ParsedConfig | undefined {
  let i = afterTag;
  // Skip blanks and the " * " that starts each line of a block comment.
  while (i < commentEnd && /[\s*]/.test(text[i]!)) {
    if (text[i] === "*" && text[i + 1] === "/") break;
    i++;
  }
  if (text[i] !== "{") return undefined;
  const open = i;
  const close = findClosingBrace(text, open, commentEnd);
  if (close < 0) {
    return {
      entries: [],
      hasName: false,
      problems: [{ start: open, length: 1, message: `${kind} config is missing its closing '}'` }],
    };
  }
  // Blank out the comment decoration at line starts so offsets in the parsed text
  // equal offsets in the file, and problems point at the user's key.
  const raw = text.slice(open, close + 1).replace(/(\n[ \t]*)\*/g, (_m, lead: string) => lead + " ");
  const wrapped = `(${raw})`;
  const sf = tsi.createSourceFile("config.ts", wrapped, tsi.ScriptTarget.Latest, false, tsi.ScriptKind.TS);
  const stmt = sf.statements[0];
  let expr: ts.Expression | undefined =
    sf.statements.length === 1 && stmt && tsi.isExpressionStatement(stmt) ? stmt.expression : undefined;
  if (expr && tsi.isParenthesizedExpression(expr)) expr = expr.expression;
  const shift = open - 1; // position in `wrapped` + shift = position in the file
  const syntaxErrors = (sf as unknown as { parseDiagnostics?: readonly ts.Diagnostic[] }).parseDiagnostics ?? [];
  if (!expr || !tsi.isObjectLiteralExpression(expr) || syntaxErrors.length > 0) {
    return {
      entries: [],
      hasName: false,
      problems: [{ start: open, length: close + 1 - open, message: `${kind} config is not a valid object literal; ${LITERAL_HINT}` }],
    };
  }
  return checkObjectLiteral(tsi, expr, sf, kind, shift, true);
}

/** Position of the `}` matching the `{` at `open`, skipping strings; -1 when unbalanced. */
function findClosingBrace(text: string, open: number, limit: number): number {
  let depth = 0;
  for (let i = open; i < limit; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === "`") {
      for (i++; i < limit && text[i] !== c; i++) if (text[i] === "\\") i++;
    } else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
  }
  return -1;
}

/**
 * Validates an object literal. In a tag every value must be a literal; in a marker's
 * config argument a non-literal value is left for the runtime to check.
 */
export function checkObjectLiteral(
  tsi: TS,
  obj: ts.ObjectLiteralExpression,
  sf: ts.SourceFile,
  kind: OperationKind,
  shift = 0,
  literalsOnly = false,
): ParsedConfig {
  const schema = CONFIG_SCHEMA[kind];
  const known = Object.keys(schema);
  const result: ParsedConfig = { entries: [], problems: [], hasName: false };
  const at = (node: ts.Node, message: string) =>
    result.problems.push({ start: node.getStart(sf) + shift, length: node.getWidth(sf), message });

  for (const prop of obj.properties) {
    if (!tsi.isPropertyAssignment(prop) || !prop.name || !(tsi.isIdentifier(prop.name) || tsi.isStringLiteral(prop.name))) {
      if (literalsOnly) at(prop, `${kind} config entries must be written 'key: value'; ${LITERAL_HINT}`);
      else if (tsi.isShorthandPropertyAssignment(prop) && prop.name.text === "name") result.hasName = true;
      continue;
    }
    const key = prop.name.text;
    if (key === "name") result.hasName = true;
    const spec = schema[key];
    if (!spec) {
      const hint = suggestKey(key, known);
      at(prop.name, `unknown ${kind} option '${key}'${hint ? `; did you mean '${hint}'?` : `; known options: ${known.join(", ")}`}`);
      continue;
    }
    const value = literalValue(tsi, prop.initializer);
    if (value === undefined) {
      if (literalsOnly) at(prop.initializer, `${kind} option '${key}' must be a literal; ${LITERAL_HINT}`);
      continue;
    }
    const problem = checkValue(spec, value);
    if (problem) {
      at(prop.initializer, `${kind} option '${key}' ${problem}`);
      continue;
    }
    if (key === "name") result.name = value as string;
    result.entries.push({ key, value });
  }
  return result;
}

function literalValue(tsi: TS, e: ts.Expression): Literal | undefined {
  while (tsi.isParenthesizedExpression(e)) e = e.expression;
  if (tsi.isStringLiteral(e) || tsi.isNoSubstitutionTemplateLiteral(e)) return e.text;
  if (tsi.isNumericLiteral(e)) return Number(e.text);
  // Read as the number it names, so that `timeoutMS: Infinity` is reported here, not at run time.
  if (tsi.isIdentifier(e) && (e.text === "Infinity" || e.text === "NaN")) return Number(e.text);
  if (e.kind === tsi.SyntaxKind.TrueKeyword) return true;
  if (e.kind === tsi.SyntaxKind.FalseKeyword) return false;
  if (tsi.isPrefixUnaryExpression(e) && tsi.isNumericLiteral(e.operand)) {
    if (e.operator === tsi.SyntaxKind.MinusToken) return -Number(e.operand.text);
    if (e.operator === tsi.SyntaxKind.PlusToken) return Number(e.operand.text);
  }
  return undefined;
}
