/**
 * The language-service plugin: a language service with the plugin loaded reports the
 * Stepwise diagnostics of a file (every SW code, the editor's own diagnostics kept), and
 * tsserver itself loads "stepwise/language-service" from a project's tsconfig through
 * the package's CommonJS entry.
 */
import ts from "typescript";
import * as esbuild from "esbuild";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import init from "../../transformer/language-service.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

const STEPWISE_DTS = `
export declare class Stepwise {
  static send(destinationID: string, message: unknown, topic?: string): Promise<void>;
}
`;

// Just enough of a standard library for async functions.
const LIB = `interface Array<T> { length: number } interface Boolean {} interface Function {} interface CallableFunction {} interface NewableFunction {}
interface IArguments {} interface Number {} interface Object {} interface RegExp {} interface String {} interface Promise<T> { then(): T }
declare var Promise: any;`;

const FILES: Record<string, string> = {
  "/lib.d.ts": LIB,
  "/proj/node_modules/stepwise/package.json": JSON.stringify({ name: "stepwise", types: "index.d.ts" }),
  "/proj/node_modules/stepwise/index.d.ts": STEPWISE_DTS,
  "/proj/notify.ts": `import { Stepwise } from "stepwise";
export async function notify(id: string) {
  await Stepwise.send(id, "receipt");
}
`,
  "/proj/a.ts": `import { notify } from "./notify";

/** @step */
export async function sendReceipt(id: string) {
  await notify(id);
}

/** @step */
export function notAsync() {
  return 1;
}

const n: number = "not a number";
`,
};

function languageService(files: Record<string, string>): ts.LanguageService {
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, strict: true };
  const host: ts.LanguageServiceHost = {
    getCompilationSettings: () => options,
    getScriptFileNames: () => Object.keys(files).filter((f) => f.endsWith(".ts") && !f.includes("node_modules")),
    getScriptVersion: () => "1",
    getScriptSnapshot: (f) => (files[f] === undefined ? undefined : ts.ScriptSnapshot.fromString(files[f]!)),
    getCurrentDirectory: () => "/proj",
    getDefaultLibFileName: () => "/lib.d.ts",
    fileExists: (f) => files[f] !== undefined,
    readFile: (f) => files[f],
    directoryExists: (d) => Object.keys(files).some((f) => f.startsWith(d + "/")),
  };
  return ts.createLanguageService(host, ts.createDocumentRegistry());
}

describe("language-service plugin", () => {
  test("a language service with the plugin loaded reports Stepwise's diagnostics beside its own", () => {
    const plugin = init({ typescript: ts }).create({ languageService: languageService(FILES) });
    const diags = plugin.getSemanticDiagnostics("/proj/a.ts");
    const text = FILES["/proj/a.ts"]!;
    // The service's own diagnostics first, then Stepwise's.
    const shown = diags.map((d) => ({
      code: d.code,
      at: text.slice(d.start!, d.start! + 10),
      message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
      category: ts.DiagnosticCategory[d.category],
    }));
    expect(shown).toEqual([
      { code: 2322, at: "n: number ", message: "Type 'string' is not assignable to type 'number'.", category: "Error" },
      {
        code: 991003,
        at: "notAsync()",
        message: "SW1003 a step must be async: its result is checkpointed before it is returned. Add 'async' (and return a Promise).",
        category: "Error",
      },
      {
        code: 991002,
        at: "notify(id)",
        message: expect.stringMatching(/^SW1002 step sendReceipt calls Stepwise.send \(sendReceipt -> notify -> Stepwise.send\): /),
        category: "Error",
      },
    ]);
    // Other requests pass through untouched.
    expect(plugin.getSyntacticDiagnostics("/proj/a.ts")).toEqual([]);
    expect(plugin.getSemanticDiagnostics("/proj/notify.ts")).toEqual([]);
  });

  describe("loaded by tsserver", () => {
    let dir: string;
    beforeAll(async () => {
      // What `npm run build` makes (build:language-service), so this test does not depend on a build.
      await esbuild.build({
        entryPoints: [join(REPO, "transformer/language-service.ts")],
        bundle: true,
        platform: "node",
        format: "cjs",
        target: "node20",
        outfile: join(REPO, "dist/language-service.cjs"),
        logLevel: "warning",
      });
      dir = mkdtempSync(join(tmpdir(), "stepwise-ls-"));
      mkdirSync(join(dir, "node_modules"));
      symlinkSync(REPO, join(dir, "node_modules/stepwise"));
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: { target: "ES2022", module: "ESNext", moduleResolution: "Bundler", strict: true, noEmit: true, plugins: [{ name: "stepwise/language-service" }] },
        include: ["*.ts"],
      }));
      writeFileSync(join(dir, "main.ts"), `import { Stepwise } from "stepwise";\n\n/** @step */\nexport async function charge(id: string) {\n  await Stepwise.send(id, "paid");\n}\n`);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test("resolves the way tsserver resolves plugins (require, no exports) to the CommonJS entry", () => {
      const resolved = (ts as unknown as { resolveJSModule(m: string, dir: string, host: ts.System): string }).resolveJSModule(
        "stepwise/language-service", dir, ts.sys);
      // Through the symlink to this repo: the file the package ships in its "language-service" folder.
      expect(resolved).toBe(join(REPO, "language-service/index.js"));
      const factory = createRequire(import.meta.url)(resolved) as unknown;
      expect(typeof factory).toBe("function");
    });

    test("tsserver reports SW1002 for a file of a project that names the plugin", async () => {
      const file = join(dir, "main.ts");
      const server = spawn(process.execPath, [join(REPO, "node_modules/typescript/lib/tsserver.js"), "--pluginProbeLocations", dir, "--disableAutomaticTypingAcquisition"], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      const send = (seq: number, command: string, args: object) =>
        server.stdin.write(JSON.stringify({ seq, type: "request", command, arguments: args }) + "\n");
      const response = new Promise<{ body: { code: number; text: string; start: { line: number; offset: number } }[] }>((resolve, reject) => {
        let buf = "";
        const timer = setTimeout(() => reject(new Error(`no answer from tsserver:\n${buf}`)), 50_000);
        server.stdout.on("data", (chunk: Buffer) => {
          buf += chunk.toString("utf8");
          for (const m of buf.matchAll(/^\{.*\}$/gm)) {
            const msg = JSON.parse(m[0]) as { type: string; request_seq?: number; body: never };
            if (msg.type === "response" && msg.request_seq === 2) {
              clearTimeout(timer);
              resolve(msg);
            }
          }
        });
      });
      send(1, "open", { file });
      send(2, "semanticDiagnosticsSync", { file });
      try {
        const { body } = await response;
        expect(body).toEqual([
          expect.objectContaining({
            code: 991002,
            start: { line: 5, offset: 9 },
            text: expect.stringMatching(/^SW1002 step charge calls Stepwise.send \(charge -> Stepwise.send\)/),
          }),
        ]);
      } finally {
        server.kill();
      }
    }, 60_000);
  });
});


