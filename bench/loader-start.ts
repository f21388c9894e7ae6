/**
 * What `--import stepwise/register` adds to a process start, on each Node the tests run
 * (20 from the machine, 22 and 24 from test/toolchains): a generated 100-file TypeScript
 * app (erasable syntax, so Node 22+ strips it; Node 20 runs the same app as .mjs) started
 * with and without the loader.
 *
 * - no tag in any file: the loader's whole cost (target: at most 20 ms; TypeScript is not loaded)
 * - 1 file in 10 with steps, nothing cached (STEPWISE_CACHE_DIR=0): TypeScript loaded and each tagged file rewritten
 * - the same, cached by an earlier start (the default): the rewrites and TypeScript's code cache reused
 *
 * Prints medians of wall-clock time per start.
 *   npm run bench:loader    (or: npm run build && node dist/bench/loader-start.js [--files 100] [--runs 15])
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, median, REPO } from "./build-harness.js";

const FILES = arg("files", 100);
const RUNS = arg("runs", 15);

function file(i: number, tagged: boolean, ext: string, types: boolean): string {
  const t = (s: string) => (types ? s : "");
  const imp = i + 1 < FILES ? `import { f${i + 1} } from "./m${i + 1}.${ext}";\n` : "";
  const next = i + 1 < FILES ? `f${i + 1}(x)` : "x";
  const body = `${imp}${types ? `export interface M${i} { id: string; n: number }\n` : ""}` +
    `/** Adds ${i}. */\nexport function f${i}(x${t(": number")})${t(": number")} { return ${next} + ${i}; }\n`;
  if (!tagged) return body;
  return body + `/** @step */\nexport async function s${i}(x${t(": number")})${t(": Promise<number>")} { return f${i}(x); }\n` +
    `export class C${i} {\n  /** @step */\n  static async save(id${t(": string")})${t(": Promise<string>")} { return id; }\n}\n`;
}

function writeApp(dir: string, tagged: boolean, ext: "ts" | "mjs"): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(join(dir, `m${i}.${ext}`), file(i, tagged && i % 10 === 9, ext, ext === "ts"));
  writeFileSync(join(dir, `main.${ext}`), `import { f0 } from "./m0.${ext}";\nconsole.log(f0(1));\n`);
}

function timeStart(node: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(node, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${node} ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
  return ms;
}

const root = mkdtempSync(join(tmpdir(), "stepwise-loader-bench-"));
try {
  mkdirSync(join(root, "node_modules"));
  symlinkSync(REPO, join(root, "node_modules/stepwise"));
  writeFileSync(join(root, "package.json"), JSON.stringify({ type: "module" }));
  for (const [name, tagged, ext] of [["plain-ts", false, "ts"], ["tagged-ts", true, "ts"], ["plain-js", false, "mjs"], ["tagged-js", true, "mjs"]] as const)
    writeApp(join(root, name), tagged, ext);
  const toolchain = (v: number) => join(REPO, `test/toolchains/node_modules/node-${v}/bin/node`);
  const nodes: [string, string, "ts" | "mjs"][] = [["Node 20 (.mjs)", process.execPath, "mjs"]];
  for (const v of [22, 24]) if (existsSync(toolchain(v))) nodes.push([`Node ${v} (.ts)`, toolchain(v), "ts"]);
  const cache = join(root, ".cache");
  console.log(`${FILES} files, median of ${RUNS} starts (ms)\n`);
  console.log(`${"".padEnd(16)} ${"no loader".padStart(10)} ${"no tags".padStart(10)} ${"added".padStart(7)} ${"tags, cold".padStart(11)} ${"tags, cached".padStart(13)}`);
  for (const [label, node, ext] of nodes) {
    const dir = (tagged: boolean) => join(root, `${tagged ? "tagged" : "plain"}-${ext === "ts" ? "ts" : "js"}`);
    const main = `main.${ext}`;
    const loader = ["--import", "stepwise/register", main];
    const samples = { bare: [] as number[], plain: [] as number[], cold: [] as number[], warm: [] as number[] };
    rmSync(cache, { recursive: true, force: true });
    // Interleaved, so a busy moment of the machine falls on every variant alike.
    for (let r = 0; r < RUNS; r++) {
      samples.bare.push(timeStart(node, [main], dir(false), {}));
      samples.plain.push(timeStart(node, loader, dir(false), { STEPWISE_CACHE_DIR: cache }));
      samples.cold.push(timeStart(node, loader, dir(true), { STEPWISE_CACHE_DIR: "0" }));
      samples.warm.push(timeStart(node, loader, dir(true), { STEPWISE_CACHE_DIR: cache }));
    }
    const m = (xs: number[]) => median(xs);
    const f = (x: number) => x.toFixed(0).padStart(10);
    console.log(`${label.padEnd(16)} ${f(m(samples.bare))} ${f(m(samples.plain))} ${(m(samples.plain) - m(samples.bare)).toFixed(0).padStart(7)} ${m(samples.cold).toFixed(0).padStart(11)} ${m(samples.warm).toFixed(0).padStart(13)}`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
