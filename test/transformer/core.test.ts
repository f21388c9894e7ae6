import { describe, expect, it } from "vitest";
import ts from "typescript";
import { SourceMapConsumerLite } from "./sourcemap.js";
import { compile, fixtureNames, FIXTURES, inputFiles, readOptions } from "./harness.js";
import { join } from "node:path";
import { analyzeFiles, analyzeFile, numericCode, swCodeOf } from "../../transformer/core/index.js";
import { createBeforeTransformer } from "../../transformer/core/index.js";

describe("files without markers", () => {
  it("are emitted byte-for-byte as plain tsc emits them", () => {
    const files = new Map([
      ["input.ts", `// Mentions step( and workflow( and "stepwise" in text only.\nexport function step(n: number) { return n + 1; }\nexport const x = step(1);\n/** docs */\nexport class A { m(): void {} }\n`],
    ]);
    for (const module of ["esnext", "commonjs"] as const) {
      const withTransformer = compile(files, { module });
      const plain = compile(files, { module }, true);
      expect(withTransformer.outputs.get("input.ts")).toBe(plain.outputs.get("input.ts"));
      expect(withTransformer.diagnostics).toEqual([]);
    }
  });

  it("every fixture that the transformer leaves alone matches plain tsc exactly", () => {
    let checked = 0;
    for (const name of fixtureNames()) {
      const dir = join(FIXTURES, name);
      const files = inputFiles(dir);
      const opts = readOptions(dir);
      const a = compile(files, opts);
      const left = [...files.keys()].filter((n) => !a.rewritten.has(n));
      if (left.length === 0) continue;
      const b = compile(files, opts, true);
      for (const n of left) {
        expect(a.outputs.get(n), `${name}/${n}`).toBe(b.outputs.get(n));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(3);
    // Two compiles of every fixture: minutes on a loaded 2-core machine.
  }, 240_000);
});

describe("JSDoc parsing modes", () => {
  // tsc >= 5.3 parses JSDoc only where type checking needs it; tags must be found either way.
  for (const mode of ["ParseAll", "ParseNone", "ParseForTypeErrors", "ParseForTypeInfo"] as const) {
    it(`finds tags under JSDocParsingMode.${mode}`, () => {
      const sf = ts.createSourceFile(
        "a.ts",
        `/** @step { maxAttempts: 2 } */\nexport async function a() {}\nclass C {\n  /** @workflow */\n  static async w() {}\n}\n`,
        { languageVersion: ts.ScriptTarget.Latest, jsDocParsingMode: ts.JSDocParsingMode[mode] },
        true,
      );
      const ops = analyzeFile(ts, sf).operations.map((o) => `${o.kind}:${o.id}`);
      expect(ops).toEqual(["step:a", "workflow:C.w"]);
    });
  }
});

describe("codes", () => {
  it("map SW codes one-to-one to numbers tsc can print", () => {
    for (const c of ["SW1003", "SW1005", "SW1006", "SW1007"]) expect(swCodeOf(numericCode(c))).toBe(c);
    expect(new Set(["SW1003", "SW1005", "SW1006", "SW1007"].map(numericCode)).size).toBe(4);
  });
});

describe("manifest", () => {
  it("lists id, kind, file, line and config, sorted by id", () => {
    const a = ts.createSourceFile("/p/src/a.ts", `/** @step { retriesAllowed: true, maxAttempts: 5 } */\nexport async function reserve() {}\n\n/** @workflow */\nexport async function checkout() {}\n`, ts.ScriptTarget.Latest, true);
    const b = ts.createSourceFile("/p/src/b.ts", `import { step } from "stepwise";\nexport class Orders {\n  /** @transaction { readOnly: true } */\n  static async list() { return []; }\n}\nexport const notify = step(async () => 1, { name: "notify-v2" });\n`, ts.ScriptTarget.Latest, true);
    const analysis = analyzeFiles(ts, [a, b], (f) => f.replace("/p/", ""));
    expect(analysis.diagnostics).toEqual([]);
    expect(analysis.manifest()).toEqual({
      version: 1,
      operations: [
        { id: "Orders.list", kind: "transaction", file: "src/b.ts", line: 4, config: { readOnly: true } },
        { id: "checkout", kind: "workflow", file: "src/a.ts", line: 5, config: {} },
        { id: "notify-v2", kind: "step", file: "src/b.ts", line: 6, config: {} },
        { id: "reserve", kind: "step", file: "src/a.ts", line: 2, config: { retriesAllowed: true, maxAttempts: 5 } },
      ],
    });
  });
});

describe("source maps", () => {
  it("map the statements of a wrapped body to the user's lines", () => {
    const text = [
      `/** @step */`, // 1
      `export async function charge(id: string) {`, // 2
      `  const a = id.length;`, // 3
      `  throw new Error("boom " + a);`, // 4
      `}`, // 5
      `export class C {`, // 6
      `  /** @workflow */`, // 7
      `  static async run() {`, // 8
      `    return charge("x");`, // 9
      `  }`, // 10
      `}`, // 11
    ].join("\n");
    const out = ts.transpileModule(text, {
      fileName: "input.ts",
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: true },
      transformers: { before: [createBeforeTransformer(ts, undefined)] },
    });
    const map = new SourceMapConsumerLite(JSON.parse(out.sourceMapText!));
    const js = out.outputText.split("\n");
    const lineOf = (needle: string) => js.findIndex((l) => l.includes(needle)) + 1;
    expect(map.originalLine(lineOf(`throw new Error("boom "`))).toBe(4);
    expect(map.originalLine(lineOf(`const a = id.length`))).toBe(3);
    expect(map.originalLine(lineOf(`return charge("x")`))).toBe(9);
  });
});
