/**
 * `stepwise build [-p tsconfig.json]`: the project's own compiler, then the Stepwise
 * rewrite, then `stepwise verify` of what came out.
 *
 * - TypeScript 7 (no transformer API, so no ts-patch): the project's `tsc` emits plain
 *   JavaScript, in which tsc keeps the tag comments; each emitted file of a tagged source
 *   is then rewritten with the core's text rewrite (the esbuild plugin's, the loader's),
 *   which gives the IDs every other path gives, and its source map is chained onto tsc's,
 *   so a stack trace still points at the .ts line.
 * - TypeScript 5 and 6: ts-patch's `tspc`, with the plugin the tsconfig names.
 *
 * Either way a build that left a tagged function unrewritten fails here.
 */
import type { Command } from "commander";
import type * as TS from "typescript";
import remapping from "@jridgewell/remapping";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { mightContainMarkers, messageText, type SwDiagnostic } from "../transformer/core/index.js";
import { textSource, transformFile } from "../transformer/esbuild/file.js";
import { verifyBuild } from "../transformer/verify.js";
import { CheckConfigError } from "./check.js";

export interface BuildOptions {
  project?: string;
  cwd?: string;
  /** The tsc to run (default: the project's typescript package's). */
  tsc?: string;
}

export interface BuildResult {
  exitCode: 0 | 1;
  /** What the command prints. */
  output: string;
  /** Emitted files the rewrite changed (TypeScript 7). */
  rewritten: string[];
  typescriptVersion: string;
}

const SOURCE_MAP_URL = /\n?\/\/[#@] sourceMappingURL=(\S+)\s*$/;

export function runBuild(options: BuildOptions = {}): BuildResult {
  const ts = createRequire(import.meta.url)("typescript") as typeof TS;
  const cwd = options.cwd ?? process.cwd();
  const display = (f: string) => {
    const r = relative(cwd, f);
    return (r && !r.startsWith("..") && !isAbsolute(r) ? r : f).split(sep).join("/");
  };
  let configPath = resolve(cwd, options.project ?? "tsconfig.json");
  if (existsSync(configPath) && statSync(configPath).isDirectory()) configPath = join(configPath, "tsconfig.json");
  if (!existsSync(configPath)) throw new CheckConfigError(`cannot find ${display(configPath)}: pass the project's tsconfig.json with -p.`);
  const projectDir = dirname(configPath);
  const { version, tsc } = projectCompiler(projectDir, options.tsc);
  const major = Number(version.split(".")[0]);
  const lines: string[] = [];
  let rewritten: string[] = [];

  if (major >= 7) {
    const r = spawnSync(process.execPath, [tsc, "-p", configPath], { cwd, encoding: "utf8" });
    if (r.error) throw r.error;
    if (r.status !== 0) return { exitCode: 1, output: `${r.stdout}${r.stderr}stepwise build: tsc (TypeScript ${version}) failed; nothing was rewritten.\n`, rewritten, typescriptVersion: version };
    const parsed = parseConfig(ts, configPath);
    if (parsed.options.removeComments)
      throw new CheckConfigError(`${display(configPath)} sets "removeComments": the tags are comments, so tsc's output would have none to rewrite. Turn it off.`);
    const errors: string[] = [];
    rewritten = rewriteEmitted(ts, parsed, errors, display);
    if (errors.length > 0) return { exitCode: 1, output: errors.join("\n") + "\n", rewritten, typescriptVersion: version };
    lines.push(`stepwise build: tsc (TypeScript ${version}), then rewrote ${rewritten.length} emitted file${rewritten.length === 1 ? "" : "s"}.`);
  } else {
    const tspc = resolveFrom(projectDir, "ts-patch/bin/tspc.js");
    if (!tspc)
      throw new CheckConfigError(`TypeScript ${version} compiles Stepwise's tags through ts-patch, which this project lacks: npm i -D ts-patch@3.3 (or run tspc yourself).`);
    const r = spawnSync(process.execPath, [tspc, "-p", configPath], { cwd, encoding: "utf8" });
    if (r.error) throw r.error;
    if (r.status !== 0) {
      const unpatchable = /Could not recognize TS format|reading 'LineFeed'/.test(r.stderr);
      return {
        exitCode: 1,
        output:
          `${r.stdout}${r.stderr}` +
          (unpatchable
            ? `stepwise build: ts-patch cannot patch TypeScript ${version}. Pin TypeScript 5.9 with ts-patch 3.3 (npm i -D typescript@5.9 ts-patch@3.3), or move to TypeScript 7, which stepwise build supports without ts-patch.\n`
            : `stepwise build: tspc failed.\n`),
        rewritten,
        typescriptVersion: version,
      };
    }
    lines.push(`stepwise build: tspc (TypeScript ${version}).`);
  }

  // What came out must hold every tagged function rewritten.
  const parsed = parseConfig(ts, configPath);
  const sources = parsed.fileNames.filter((f) => !/\.d\.[cm]?ts$/.test(f)).map((f) => ({ fileName: resolve(f), text: readFileSync(f, "utf8") }));
  const outputs = sources
    .flatMap((s) => ts.getOutputFileNames(parsed, s.fileName, false))
    .filter((f) => /\.[cm]?js$/.test(f) && existsSync(f))
    .map((fileName) => ({ fileName, code: readFileSync(fileName, "utf8") }));
  const v = verifyBuild(ts, sources, outputs, display);
  for (const p of v.problems) lines.push(`${display(p.fileName)}:${p.line}: error: ${p.message}`);
  return { exitCode: v.problems.length > 0 ? 1 : 0, output: lines.join("\n") + "\n", rewritten, typescriptVersion: version };
}

/** The project's TypeScript: its version and its tsc. */
function projectCompiler(projectDir: string, tscOverride: string | undefined): { version: string; tsc: string } {
  const pkgPath = tscOverride ? join(dirname(tscOverride), "..", "package.json") : resolveFrom(projectDir, "typescript/package.json");
  if (!pkgPath || !existsSync(pkgPath)) throw new CheckConfigError(`cannot find the project's typescript package from ${projectDir}: npm i -D typescript`);
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { version: string; bin?: Record<string, string> };
  return { version: pkg.version, tsc: tscOverride ?? join(dirname(pkgPath), pkg.bin?.tsc ?? "bin/tsc") };
}

function resolveFrom(dir: string, request: string): string | undefined {
  try {
    return createRequire(join(dir, "package.json")).resolve(request);
  } catch {
    return undefined;
  }
}

function parseConfig(ts: typeof TS, configPath: string): TS.ParsedCommandLine {
  let problem: string | undefined;
  // Stepwise's own TypeScript reads a config written for TypeScript 7: options it does not know are left out.
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => (problem = ts.flattenDiagnosticMessageText(d.messageText, "\n")),
  });
  if (!parsed) throw new CheckConfigError(`cannot read ${configPath}: ${problem ?? "unknown error"}`);
  return parsed;
}

/** Rewrites each emitted JavaScript file of a tagged source in place; returns the files changed. */
function rewriteEmitted(ts: typeof TS, parsed: TS.ParsedCommandLine, errors: string[], display: (f: string) => string): string[] {
  const changed: string[] = [];
  for (const source of parsed.fileNames) {
    if (/\.d\.[cm]?ts$/.test(source) || !mightContainMarkers(readFileSync(source, "utf8"))) continue;
    for (const js of ts.getOutputFileNames(parsed, source, false).filter((f) => /\.[cm]?js$/.test(f))) {
      if (!existsSync(js)) continue;
      const emitted = readFileSync(js, "utf8");
      // Already rewritten (tsc did not emit it again): rewriting twice would wrap twice.
      if (/\b__stepwise\b/.test(emitted)) continue;
      const urlMatch = SOURCE_MAP_URL.exec(emitted);
      // The comment is the file's last line: cutting it moves nothing before it.
      const code = urlMatch ? emitted.slice(0, urlMatch.index) : emitted;
      const outcome = transformFile(ts, js, code);
      const fail = outcome.diagnostics.filter((d) => d.category === "error");
      if (fail.length > 0) {
        errors.push(...fail.map((d) => formatAt(d, js, code, display)));
        continue;
      }
      if (outcome.contents === undefined) continue;
      const cut = outcome.contents.lastIndexOf("\n//# sourceMappingURL=data:application/json;base64,");
      const newCode = outcome.contents.slice(0, cut);
      const ownMap = JSON.parse(Buffer.from(outcome.contents.slice(cut).split("base64,")[1]!.trim(), "base64").toString("utf8"));
      const tscMap = urlMatch ? readMap(js, urlMatch[1]!) : undefined;
      if (!tscMap) {
        writeFileSync(js, newCode + (urlMatch ? "\n" : ""));
      } else {
        // rewritten JS -> tsc's JS -> the .ts source
        const chained = remapping(ownMap, (file) => (resolve(file) === resolve(js) ? tscMap.map : null));
        chained.file = basename(js);
        const mapJson = JSON.stringify({ ...chained, sources: chained.sources.map((s) => (s ? relative(dirname(js), resolve(dirname(js), s)).split(sep).join("/") : s)) });
        if (tscMap.inline) writeFileSync(js, `${newCode}\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(mapJson).toString("base64")}\n`);
        else {
          writeFileSync(tscMap.path!, mapJson);
          writeFileSync(js, `${newCode}\n//# sourceMappingURL=${urlMatch![1]}\n`);
        }
      }
      changed.push(js);
    }
  }
  return changed;
}

/** tsc's map of an emitted file, with its sources made absolute (remapping then resolves them). */
function readMap(js: string, url: string): { map: any; inline: boolean; path?: string } | undefined {
  try {
    if (url.startsWith("data:")) {
      const map = JSON.parse(Buffer.from(url.split("base64,")[1]!, "base64").toString("utf8"));
      return { map: absolutize(map, dirname(js)), inline: true };
    }
    const path = resolve(dirname(js), decodeURIComponent(url));
    return { map: absolutize(JSON.parse(readFileSync(path, "utf8")), dirname(path)), inline: false, path };
  } catch {
    return undefined;
  }
}

function absolutize(map: { sources: string[]; sourceRoot?: string }, dir: string): object {
  const root = resolve(dir, map.sourceRoot ?? "");
  return { ...map, sourceRoot: undefined, sources: map.sources.map((s) => resolve(root, s)) };
}

function formatAt(d: SwDiagnostic, file: string, text: string, display: (f: string) => string): string {
  const { line, character } = textSource(file, text).getLineAndCharacterOfPosition(d.start);
  return `${display(file)}(${line + 1},${character + 1}): ${d.category} ${messageText(d)}`;
}

export function registerBuildCommand(program: Command): void {
  program
    .command("build")
    .description("compile with the project's TypeScript (tsc for 7, tspc for 5 and 6), apply the Stepwise rewrite, and verify the output")
    .option("-p, --project <path>", "tsconfig.json, or the folder holding it", "tsconfig.json")
    .action((opts: { project: string }) => {
      const result = runBuild({ project: opts.project });
      (result.exitCode ? process.stderr : process.stdout).write(result.output);
      process.exitCode = result.exitCode;
    });
}
