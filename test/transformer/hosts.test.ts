/**
 * The rule fixtures through the two type-aware hosts the fixture harness does not run:
 * `stepwise check` (runCheck on a project folder) and the editor's language-service
 * plugin. Each must report exactly what tspc does (diagnostics.txt), look-alikes
 * (negatives-*) included. tspc is fixtures.test.ts; esbuild is test/esbuild/plugin.test.ts.
 */
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runCheck } from "../../cli/check.js";
import init from "../../transformer/language-service.js";
import { numericCode } from "../../transformer/core/index.js";
import { FIXTURES, GLOBALS_DTS, inputFiles, STEPWISE_DTS } from "./harness.js";

process.env.STEPWISE_DEBUG_RULES ??= "1";

// The misuse rules (they follow calls through the checker) and their look-alikes.
const NAMES = readdirSync(FIXTURES).filter((n) => /^(sw1(00[124]|1\d\d)-|negatives-)/.test(n)).sort();
const expectedOf = (name: string) => readFileSync(join(FIXTURES, name, "diagnostics.txt"), "utf8").split("\n").filter(Boolean).sort();

const COMPILER_OPTIONS = { target: "ES2022", module: "ESNext", moduleResolution: "Bundler", strict: true, lib: ["es2022"], types: [], noEmit: true };

/** The fixture's files beside the stub package and globals the fixture harness compiles with. */
function projectFiles(name: string): Map<string, string> {
  const files = new Map(inputFiles(join(FIXTURES, name)));
  files.set("__globals.d.ts", GLOBALS_DTS);
  files.set("node_modules/stepwise/package.json", JSON.stringify({ name: "stepwise", types: "index.d.ts" }));
  files.set("node_modules/stepwise/index.d.ts", STEPWISE_DTS);
  return files;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("stepwise check reports what tspc does", () => {
  it.each(NAMES)("%s", (name) => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-hosts-"));
    dirs.push(dir);
    for (const [f, text] of projectFiles(name)) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: COMPILER_OPTIONS, include: ["*.ts"] }));
    const r = runCheck({ cwd: dir });
    const got = r.diagnostics.map((d) => `${d.file}(${d.line},${d.column}): ${d.category} TS${numericCode(d.code)}: ${d.code} ${d.message}`);
    expect(got.sort()).toEqual(expectedOf(name));
  });
});

describe("the language-service plugin reports what tspc does", () => {
  it.each(NAMES)("%s", (name) => {
    const root = "/proj";
    const files = new Map([...projectFiles(name)].map(([f, text]) => [`${root}/${f}`, text]));
    const { options } = ts.convertCompilerOptionsFromJson(COMPILER_OPTIONS, root);
    const read = (f: string) => files.get(f) ?? (f.startsWith(dirname(ts.getDefaultLibFilePath(options))) ? ts.sys.readFile(f) : undefined);
    const host: ts.LanguageServiceHost = {
      getCompilationSettings: () => options,
      getScriptFileNames: () => [...files.keys()].filter((f) => f.endsWith(".ts") && !f.includes("node_modules")),
      getScriptVersion: () => "1",
      getScriptSnapshot: (f) => {
        const text = read(f);
        return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
      },
      getCurrentDirectory: () => root,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => read(f) !== undefined,
      readFile: read,
      directoryExists: (d) => [...files.keys()].some((f) => f.startsWith(d + "/")),
    };
    const ls = init({ typescript: ts }).create({ languageService: ts.createLanguageService(host, ts.createDocumentRegistry()) });
    const got: string[] = [];
    for (const f of host.getScriptFileNames()) {
      for (const d of ls.getSemanticDiagnostics(f)) {
        if (d.source !== "stepwise") continue;
        const { line, character } = d.file!.getLineAndCharacterOfPosition(d.start!);
        const category = d.category === ts.DiagnosticCategory.Warning ? "warning" : "error";
        got.push(`${f.slice(root.length + 1)}(${line + 1},${character + 1}): ${category} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
      }
    }
    expect(got.sort()).toEqual(expectedOf(name));
  });
});
