/**
 * Identity: qualified names, explicit names, duplicates across a build, the manifest.
 * An ID is fixed at compile time and injected into the output, so a minifier that
 * renames functions or a bundler that moves them cannot change it.
 */
import type * as ts from "typescript";
import type { TS } from "./ts.js";
import type { OperationKind } from "../../runtime/config.js";
import type { Literal } from "./config.js";
import { describePlace, type SwDiagnostic } from "./diagnostics.js";

/** The printable name of a declaration name, or undefined when it has none we can spell. */
export function nameText(tsi: TS, name: ts.Node | undefined): string | undefined {
  if (!name) return undefined;
  if (tsi.isIdentifier(name) || tsi.isPrivateIdentifier(name)) return name.text;
  if (tsi.isStringLiteral(name) || tsi.isNumericLiteral(name) || tsi.isNoSubstitutionTemplateLiteral(name)) return name.text;
  if (tsi.isComputedPropertyName(name)) {
    const e = name.expression;
    if (tsi.isStringLiteral(e) || tsi.isNumericLiteral(e) || tsi.isNoSubstitutionTemplateLiteral(e)) return e.text;
  }
  return undefined;
}

/**
 * The names of the containers around `node`, outermost first: namespaces, classes,
 * functions, and the const or property an object literal or class expression is assigned to.
 * `Orders.charge` for a method `charge` of class `Orders`.
 */
export function containerPath(tsi: TS, node: ts.Node): string[] {
  const path: string[] = [];
  for (let cur = node.parent; cur && !tsi.isSourceFile(cur); cur = cur.parent) {
    let name: string | undefined;
    if (
      tsi.isClassDeclaration(cur) ||
      tsi.isFunctionDeclaration(cur) ||
      tsi.isModuleDeclaration(cur) ||
      tsi.isMethodDeclaration(cur) ||
      tsi.isPropertyAssignment(cur) ||
      tsi.isPropertyDeclaration(cur) ||
      tsi.isVariableDeclaration(cur)
    ) {
      name = nameText(tsi, cur.name);
    } else if (tsi.isFunctionExpression(cur) && cur.name && !tsi.isVariableDeclaration(cur.parent)) {
      name = cur.name.text;
    }
    if (name !== undefined) path.unshift(name);
  }
  return path;
}

export function qualifiedName(tsi: TS, node: ts.Node, own: string): string {
  return [...containerPath(tsi, node), own].join(".");
}

/** What the manifest and the duplicate check read of a file: a parsed SourceFile, or just its text and lines (a file the esbuild plugin read from its cache). */
export type SourceText = Pick<ts.SourceFile, "fileName" | "text" | "getLineAndCharacterOfPosition">;

/** One durable operation found in the build, as the manifest and the duplicate check see it. */
export interface IdEntry {
  id: string;
  kind: OperationKind;
  sf: SourceText;
  /** Where to point a diagnostic: the name of the definition. */
  start: number;
  length: number;
  config: Record<string, Literal>;
}

/**
 * SW1006 for every definition whose ID was already taken, naming both places.
 * `displayName` turns a compiler file name into what the user should read (relative path).
 */
export function findDuplicates(entries: readonly IdEntry[], displayName: (f: string) => string = (f) => f): SwDiagnostic[] {
  const first = new Map<string, IdEntry>();
  const out: SwDiagnostic[] = [];
  for (const e of entries) {
    const prev = first.get(e.id);
    if (!prev) {
      first.set(e.id, e);
      continue;
    }
    const there = describePlace(prev.sf, prev.start, displayName(prev.sf.fileName));
    const here = describePlace(e.sf, e.start, displayName(e.sf.fileName));
    out.push({
      code: "SW1006",
      category: "error",
      fileName: e.sf.fileName,
      start: e.start,
      length: e.length,
      message:
        `duplicate ID "${e.id}": ${e.kind} at ${here} and ${prev.kind} at ${there} would be recorded under the same name. ` +
        `Rename one, or give it an explicit { name: "..." } in its config.`,
      related: [{ fileName: prev.sf.fileName, start: prev.start, length: prev.length, message: `"${e.id}" is first defined here.` }],
    });
  }
  return out;
}

export interface ManifestEntry {
  id: string;
  kind: OperationKind;
  file: string;
  line: number;
  config: Record<string, Literal>;
}

export interface Manifest {
  version: 1;
  operations: ManifestEntry[];
}

/** The manifest: sorted by ID so two builds diff cleanly. */
export function buildManifest(entries: readonly IdEntry[], displayName: (f: string) => string = (f) => f): Manifest {
  const operations = entries
    .map((e) => ({
      id: e.id,
      kind: e.kind,
      file: displayName(e.sf.fileName),
      line: e.sf.getLineAndCharacterOfPosition(e.start).line + 1,
      config: e.config,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.file < b.file ? -1 : 1));
  return { version: 1, operations };
}
