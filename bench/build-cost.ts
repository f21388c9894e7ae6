/**
 * Build-time cost of the transformer: tspc with the stepwise plugin vs plain tsc on a
 * generated project of 500 files, 1 in 10 with steps. Prints the median of several runs
 * of each, and the ratio (target: at most 1.15x). tspc without the plugin is timed too,
 * to separate ts-patch's own start-up from the transformer's work, and so is plain tsc
 * after `ts-patch install` (on a copy of TypeScript), the way a `prepare` script sets it up.
 *
 *   npm run build && node dist/bench/build-cost.js [--files 500] [--runs 5]
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { plainFile } from "./generated-project.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const FILES = arg("files", 500);
const RUNS = arg("runs", 5);
// dist/bench/build-cost.js -> the repo root (also right when run from source with tsx).
const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, here.includes(`${join("dist", "bench")}`) ? "../.." : "..");
const TSC = join(REPO, "node_modules/typescript/bin/tsc");
const TSPC = join(REPO, "node_modules/ts-patch/bin/tspc.js");

/** A patched copy of TypeScript in `dir`, never the repo's own; returns its tsc. */
function patchedTsc(dir: string): string {
  const tsDir = join(dir, "patched/node_modules/typescript");
  cpSync(join(REPO, "node_modules/typescript"), tsDir, { recursive: true });
  const r = spawnSync(process.execPath, [join(REPO, "node_modules/ts-patch/bin/ts-patch.js"), "install", "--dir", tsDir, "--silent"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ts-patch install failed:\n${r.stdout}${r.stderr}`);
  return join(tsDir, "bin/tsc");
}

function stepFile(i: number): string {
  return `${plainFile(i)}
import { step } from "stepwise";

/** @step { retriesAllowed: true, maxAttempts: 3 } */
export async function load${i}(id: string): Promise<Model${i}> {
  return make${i}(id);
}

export class Service${i} {
  /** @step */
  static async save(m: Model${i}): Promise<number> {
    return total${i}(m);
  }

  /** @workflow */
  static async sync(id: string): Promise<number> {
    const m = await load${i}(id);
    return Service${i}.save(m);
  }
}

/** @step */
export const audit${i} = async (id: string): Promise<string> => id;

export const notify${i} = step(async (id: string) => id.length);
`;
}

function generate(dir: string): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  mkdirSync(join(dir, "node_modules/@types"), { recursive: true });
  symlinkSync(REPO, join(dir, "node_modules/stepwise"));
  symlinkSync(join(REPO, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
  writeFileSync(join(dir, "cpu-preload.cjs"), CPU_PRELOAD);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "bench-project", private: true, type: "module" }));
  for (let i = 0; i < FILES; i++) writeFileSync(join(dir, "src", `m${i}.ts`), i % 10 === 9 ? stepFile(i) : plainFile(i));
  const base = {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    skipLibCheck: true,
    types: ["node"],
    rootDir: "src",
  };
  const config = (outDir: string, plugins?: object[]) =>
    JSON.stringify({ compilerOptions: { ...base, outDir, ...(plugins ? { plugins } : {}) }, include: ["src"] }, null, 2);
  writeFileSync(join(dir, "tsconfig.plain.json"), config("out-plain"));
  writeFileSync(join(dir, "tsconfig.stepwise.json"), config("out-stepwise", [{ transform: "stepwise/transformer" }]));
}

// Wall-clock time suffers from anything else running on the machine; the compiler's own
// CPU time (user + system, reported by a preload at exit) much less. Both are printed.
const CPU_PRELOAD = `process.on("exit", () => { const u = process.cpuUsage(); require("fs").writeSync(2, "\\nCPU_MS " + (u.user + u.system) / 1000 + "\\n"); });`;

interface Sample {
  wall: number;
  cpu: number;
}

function time(dir: string, compiler: string, project: string): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["--require", join(dir, "cpu-preload.cjs"), compiler, "-p", project], { cwd: dir, encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${compiler} -p ${project} failed:\n${r.stdout}${r.stderr}`);
  const cpu = Number(/CPU_MS ([\d.]+)/.exec(r.stderr)?.[1] ?? NaN);
  return { wall, cpu };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const dir = mkdtempSync(join(tmpdir(), "stepwise-build-cost-"));
try {
  generate(dir);
  const patched = patchedTsc(dir);
  const variants = {
    tsc: { label: "tsc (no plugin)", compiler: TSC, project: "tsconfig.plain.json" },
    tspcPlain: { label: "tspc (no plugin)", compiler: TSPC, project: "tsconfig.plain.json" },
    tspc: { label: "tspc + stepwise transformer", compiler: TSPC, project: "tsconfig.stepwise.json" },
    patched: { label: "tsc after ts-patch install + stepwise", compiler: patched, project: "tsconfig.stepwise.json" },
  };
  type Key = keyof typeof variants;
  const keys = Object.keys(variants) as Key[];
  const samples = Object.fromEntries(keys.map((k) => [k, [] as Sample[]])) as Record<Key, Sample[]>;
  // One warm-up of each (disk cache, ts-patch's patched-compiler cache), then interleaved runs
  // so that background load spreads over all variants alike.
  for (const k of keys) time(dir, variants[k].compiler, variants[k].project);
  for (let r = 0; r < RUNS; r++) for (const k of keys) samples[k].push(time(dir, variants[k].compiler, variants[k].project));
  const med = (k: Key, f: keyof Sample) => median(samples[k].map((s) => s[f]));
  const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`build cost: ${FILES} files (${Math.floor(FILES / 10)} with steps), median of ${RUNS} runs`);
  console.log(`  ${"".padEnd(40)}${"wall".padStart(8)}${"ratio".padStart(8)}${"cpu".padStart(10)}${"ratio".padStart(8)}`);
  for (const k of keys) {
    const row = `  ${variants[k].label.padEnd(40)}${fmt(med(k, "wall")).padStart(8)}${`${(med(k, "wall") / med("tsc", "wall")).toFixed(3)}x`.padStart(8)}` +
      `${fmt(med(k, "cpu")).padStart(10)}${`${(med(k, "cpu") / med("tsc", "cpu")).toFixed(3)}x`.padStart(8)}`;
    console.log(row);
  }
  console.log(`  target: tspc + stepwise <= 1.15x tsc; the transformer alone costs ${(med("tspc", "cpu") / med("tspcPlain", "cpu")).toFixed(3)}x tspc without it (cpu)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
