/**
 * The esbuild plugin's rewrite (rewrite-text.ts: insertions into the user's text) must
 * produce the program that tspc's rewrite (rewrite.ts: a tree transform) produces. Both
 * run on the same analysis of every fixture; each result is compiled and minified by
 * esbuild, which erases formatting and comments, and the two must be identical.
 */
import { describe, expect, it } from "vitest";
import ts from "typescript";
import { transformSync } from "esbuild";
import { SourceMapConsumer } from "source-map-js";
import { analyzeFile, rewriteFile, type FileAnalysis } from "../../transformer/core/index.js";
import { rewriteText } from "../../transformer/core/rewrite-text.js";
import { fixtureNames, FIXTURES, inputFiles, readOptions } from "./harness.js";
import { join } from "node:path";

function parse(text: string, fileName = "/proj/input.ts"): FileAnalysis {
  const sf = ts.createSourceFile(fileName, text, { languageVersion: ts.ScriptTarget.Latest, jsDocParsingMode: ts.JSDocParsingMode.ParseNone }, true, ts.ScriptKind.TS);
  return analyzeFile(ts, sf);
}

function viaTree(a: FileAnalysis, commonjs: boolean): string {
  const result = ts.transform(a.sf, [(context) => () => rewriteFile(ts, a, context, { commonjs })]);
  try {
    return ts.createPrinter().printFile(result.transformed[0]!);
  } finally {
    result.dispose();
  }
}

const minified = (code: string) => transformSync(code, { loader: "ts", minify: true }).code;

describe("the text rewrite produces the tree rewrite's program", () => {
  for (const name of fixtureNames()) {
    const dir = join(FIXTURES, name);
    const commonjs = readOptions(dir).module === "commonjs";
    for (const [file, text] of inputFiles(dir)) {
      const a = parse(text, `/proj/${file}`);
      if (a.operations.length === 0) continue;
      it(`${name}/${file}`, () => {
        const out = rewriteText(ts, a, { commonjs })!;
        expect(minified(out.code)).toBe(minified(viaTree(a, commonjs)));
      });
    }
  }

  // Shapes the fixtures do not hold, where text insertion has its own pitfalls.
  const cases: Record<string, string> = {
    "a statement without a semicolon before the registration (ASI)": `
import { workflow } from "stepwise"
export const flows = {
  /** @workflow */
  async run(id: string) { return id }
}
export const after = [flows].length
`,
    "directives stay first": `"use strict";
'use client'
/** @step */
export async function f() { return 1 }
`,
    "an inline tag inside the initializer": `
export const g = /** @step { maxAttempts: 2 } */ async (x: number) => ({ x });
`,
    "marker configs: none, literal, empty, a spread, a conditional": `
import { step, workflow } from "stepwise";
const opts = { retriesAllowed: true };
export const a = step(async () => 1);
export const b = step(async () => 2, { maxAttempts: 4 });
export const c = step(async () => 3, {});
export const d = step(async () => 4, opts);
export const e = workflow(async () => 5, Math.random() > 2 ? opts : { maxRecoveryAttempts: 2 });
export const f2 = step(async () => 6,);
`,
    "nested: a step declared inside a workflow's body, a class in a function": `
import { step } from "stepwise";
/** @workflow { maxRecoveryAttempts: 3 } */
export async function outer(n: number) {
  const inner = step(async (k: number) => k * 2);
  class Local {
    /** @step */
    static async twice(k: number) { return k + k }
  }
  return (await inner(n)) + (await Local.twice(n));
}
`,
    "generics, decorators-free TS syntax, and an arrow returning a type assertion": `
export class Repo<T extends { id: string }> {
  /** @step */
  async load<K extends keyof T>(id: string, key: K): Promise<T[K] | undefined> { return undefined as T[K] | undefined }
  /** @step */
  save = async (item: T): Promise<string> => item.id as string;
}
`,
  };
  for (const [title, text] of Object.entries(cases)) {
    it(title, () => {
      const a = parse(text);
      expect(a.diagnostics).toEqual([]);
      expect(a.operations.length).toBeGreaterThan(0);
      const out = rewriteText(ts, a, { commonjs: false })!;
      expect(minified(out.code)).toBe(minified(viaTree(a, false)));
    });
  }

  it("a .tsx file: JSX around and inside the rewritten functions", () => {
    const text = `
declare const h: any;
/** @step */
export async function render(name: string) { return <p title={name}>{name} &amp; co</p>; }
export const View = () => <div>{/** @workflow */ 1}</div>;
export const page = /** @step */ async (n: number) => <ul>{[n].map((i) => <li key={i}>{i}</li>)}</ul>;
`;
    const sf = ts.createSourceFile("/proj/view.tsx", text, { languageVersion: ts.ScriptTarget.Latest, jsDocParsingMode: ts.JSDocParsingMode.ParseNone }, true, ts.ScriptKind.TSX);
    const a = analyzeFile(ts, sf);
    expect(a.operations.map((o) => o.id)).toEqual(["render", "page"]);
    const jsx = (code: string) => transformSync(code, { loader: "tsx", minify: true, jsx: "transform", jsxFactory: "h" }).code;
    expect(jsx(rewriteText(ts, a, { commonjs: false })!.code)).toBe(jsx(viaTree(a, false)));
  });

  it("a CommonJS file gets require() after its directives", () => {
    const a = parse(`"use strict";\n/** @step */\nasync function f() { return 1 }\nmodule.exports = { f };\n`, "/proj/a.cts");
    const out = rewriteText(ts, a, { commonjs: true })!;
    expect(out.code.startsWith(`"use strict";;const { __stepwise } = require("stepwise");`)).toBe(true);
    expect(minified(out.code)).toBe(minified(viaTree(a, true)));
  });

  it("keeps a #! line first", () => {
    const out = rewriteText(ts, parse(`#!/usr/bin/env node\n/** @step */\nexport async function f() { return 1 }\n`), { commonjs: false })!;
    expect(out.code.split("\n").slice(0, 2)).toEqual(["#!/usr/bin/env node", `import { __stepwise } from "stepwise";`]);
    expect(() => transformSync(out.code, { loader: "ts" })).not.toThrow();
  });
});

describe("the text rewrite's source map", () => {
  const text = `import { step } from "stepwise";

/** @step */
export async function charge(id: string): Promise<string> {
  const total = id.length * 2; throw new Error("declined " + total);
}

export const notify = step(async (msg: string) => { return msg.toUpperCase(); });
`;

  it("keeps every line where it was and maps each token back to its own line and column", () => {
    const out = rewriteText(ts, parse(text), { commonjs: false })!;
    const outLines = out.code.split("\n");
    const inLines = text.split("\n");
    expect(outLines.length).toBe(inLines.length);
    const map = new SourceMapConsumer({ ...out.map, version: String(out.map.version), file: "input.js" } as never);
    for (const token of ["const total", "throw new Error", "msg.toUpperCase", "export const notify"]) {
      const line = inLines.findIndex((l) => l.includes(token));
      const column = outLines[line]!.indexOf(token);
      const original = map.originalPositionFor({ line: line + 1, column });
      expect(original, token).toMatchObject({ source: "/proj/input.ts", line: line + 1, column: inLines[line]!.indexOf(token) });
    }
    expect(out.map.sourcesContent).toEqual([text]);
  });
});
