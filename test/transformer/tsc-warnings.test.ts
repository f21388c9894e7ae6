/**
 * tspc and warnings: tsc exits non-zero on any diagnostic it reports, so SW1101/SW1102
 * are printed in tsc's format by default instead of failing the build; the plugin's
 * "warnings" option reports them as diagnostics, or leaves them out.
 */
import ts from "typescript";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import stepwiseTransformer, { type StepwisePluginConfig } from "../../transformer/tsc.js";

const dir = mkdtempSync(join(tmpdir(), "stepwise-tsc-warnings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "flow.ts");
writeFileSync(file, `/** @workflow */\nexport async function pick(n: number) {\n  return Math.floor(Math.random() * n);\n}\n\n/** @step */\nexport function notAsync() {}\n`);

function run(config: StepwisePluginConfig) {
  const program = ts.createProgram([file], { noLib: true, types: [], target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext });
  const printed: string[] = [];
  const added: ts.Diagnostic[] = [];
  const tsi = { ...ts, sys: { ...ts.sys, write: (s: string) => void printed.push(s) } } as typeof ts;
  stepwiseTransformer(program, config, { ts: tsi, addDiagnostic: (d) => added.push(d) });
  return { printed, codes: added.map((d) => d.code) };
}

describe("warnings under tspc", () => {
  test("printed by default, in tsc's format; only errors become diagnostics", () => {
    const { printed, codes } = run({});
    expect(codes).toEqual([991003]);
    expect(printed).toEqual([
      expect.stringMatching(/flow\.ts\(3,21\): warning TS991101: SW1101 workflow pick calls Math\.random outside a step \(pick -> Math\.random\)/),
    ]);
  });

  test('"diagnostics" reports them as compiler diagnostics; "off" drops them', () => {
    expect(run({ warnings: "diagnostics" })).toEqual({ printed: [], codes: [991003, 991101] });
    expect(run({ warnings: "off" })).toEqual({ printed: [], codes: [991003] });
  });

  test("a wrong value says what is allowed", () => {
    expect(() => run({ warnings: "loud" as never })).toThrow(/"warnings" must be "print", "diagnostics" or "off", got "loud"/);
  });
});
