/**
 * What the build-time benchmarks (build-cost, check-cost, bundle-cost) share: their
 * command-line numbers, the repo root, the generated project on disk, a compiler run in
 * a child process timed by wall clock and by its own CPU, and the median.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { plainFile } from "./generated-project.js";

/** `--name 42` from the command line, else the fallback. */
export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The repo root, from dist/bench (built) or bench (run from source). */
export const REPO = resolve(here, here.includes(join("dist", "bench")) ? "../.." : "..");

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Writes the generated project: `files` modules in src/, 1 in 10 of them from `stepFile`
 * (the rest plain), a package.json, and node_modules resolving "stepwise" to this repo
 * (and @types/node, for the projects tsc type-checks).
 */
export function writeProject(dir: string, files: number, stepFile: (i: number) => string, opts: { typesNode?: boolean } = {}): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  mkdirSync(join(dir, "node_modules/@types"), { recursive: true });
  symlinkSync(REPO, join(dir, "node_modules/stepwise"));
  if (opts.typesNode) symlinkSync(join(REPO, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
  writeFileSync(join(dir, "cpu-preload.cjs"), CPU_PRELOAD);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "bench-project", private: true, type: "module" }));
  for (let i = 0; i < files; i++) writeFileSync(join(dir, "src", `m${i}.ts`), i % 10 === 9 ? stepFile(i) : plainFile(i));
}

/** Writes a tsconfig for the type-checked projects (build-cost, check-cost): strict NodeNext over src/, with `extra` options. */
export function writeTsconfig(dir: string, name: string, extra: Record<string, unknown>): void {
  const compilerOptions = { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, skipLibCheck: true, types: ["node"], rootDir: "src", ...extra };
  writeFileSync(join(dir, name), JSON.stringify({ compilerOptions, include: ["src"] }, null, 2));
}

// Wall-clock time suffers from anything else running on the machine; the child's own
// CPU time (user + system, reported by a preload at exit) much less. Both are kept.
const CPU_PRELOAD = `process.on("exit", () => { const u = process.cpuUsage(); require("fs").writeSync(2, "\\nCPU_MS " + (u.user + u.system) / 1000 + "\\n"); });`;

export interface Sample {
  wall: number;
  cpu: number;
}

/** Runs `node <args>` in the project written by writeProject; throws unless it exits with one of `okStatus`. */
export function timeChild(dir: string, args: string[], okStatus: number[] = [0]): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["--require", join(dir, "cpu-preload.cjs"), ...args], { cwd: dir, encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  if (!okStatus.includes(r.status ?? -1)) throw new Error(`${args.join(" ")} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  const cpu = Number(/CPU_MS ([\d.]+)/.exec(r.stderr)?.[1] ?? NaN);
  return { wall, cpu };
}

/** Prints one row per variant: median wall and CPU, each with its ratio to `baseline`'s. */
export function printWallAndCpu<K extends string>(samples: Record<K, Sample[]>, labels: Record<K, string>, baseline: K, width: number): void {
  const med = (k: K, f: keyof Sample) => median(samples[k].map((s) => s[f]));
  const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`  ${"".padEnd(width)}${"wall".padStart(8)}${"ratio".padStart(8)}${"cpu".padStart(10)}${"ratio".padStart(8)}`);
  for (const k of Object.keys(labels) as K[]) {
    console.log(
      `  ${labels[k].padEnd(width)}${fmt(med(k, "wall")).padStart(8)}${`${(med(k, "wall") / med(baseline, "wall")).toFixed(3)}x`.padStart(8)}` +
        `${fmt(med(k, "cpu")).padStart(10)}${`${(med(k, "cpu") / med(baseline, "cpu")).toFixed(3)}x`.padStart(8)}`,
    );
  }
}
