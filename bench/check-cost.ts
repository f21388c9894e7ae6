/**
 * Cost of `stepwise check` (every rule, with the type checker, no emit) against
 * `tsc --noEmit` on the generated project of bench/build-cost.ts: 500 files, 1 in 10 with
 * steps, workflows and helpers. Prints the median of several runs of each, wall-clock and
 * CPU, and the ratio (target: at most 1.3x).
 *
 *   npm run bench:check    (or: npm run build && node dist/bench/check-cost.js [--files 500] [--runs 5])
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, here.includes(`${join("dist", "bench")}`) ? "../.." : "..");
const TSC = join(REPO, "node_modules/typescript/bin/tsc");
const STEPWISE = join(REPO, "dist/cli/index.js");

// The same shape of project as bench/build-cost.ts, with the rules given work to do:
// workflows calling steps and helpers (followed across files), steps calling helpers.
function stepFile(i: number): string {
  return `${plainFile(i)}
import { Stepwise, step } from "stepwise";

/** @step { retriesAllowed: true, maxAttempts: 3 } */
export async function load${i}(id: string): Promise<Model${i}> {
  return make${i}(id);
}

export class Service${i} {
  /** @step */
  static async save(m: Model${i}): Promise<number> {
    return total${i}(m) + new Store${i}().add(m).size;
  }

  /** @workflow */
  static async sync(id: string): Promise<number> {
    const m = await load${i}(id);
    await Stepwise.setEvent("loaded", m.id);
    const [a, b] = await Promise.all([Service${i}.save(m), audit${i}(id)]);
    return a + b.length + total${i}(m);
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
  const compilerOptions = {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    skipLibCheck: true,
    types: ["node"],
    rootDir: "src",
    outDir: "out",
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["src"] }, null, 2));
}

const CPU_PRELOAD = `process.on("exit", () => { const u = process.cpuUsage(); require("fs").writeSync(2, "\\nCPU_MS " + (u.user + u.system) / 1000 + "\\n"); });`;

interface Sample {
  wall: number;
  cpu: number;
}

function time(dir: string, args: string[], okStatus: number[] = [0]): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["--require", join(dir, "cpu-preload.cjs"), ...args], { cwd: dir, encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  if (!okStatus.includes(r.status ?? -1)) throw new Error(`${args.join(" ")} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  const cpu = Number(/CPU_MS ([\d.]+)/.exec(r.stderr)?.[1] ?? NaN);
  return { wall, cpu };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const dir = mkdtempSync(join(tmpdir(), "stepwise-check-cost-"));
try {
  generate(dir);
  const variants = {
    tsc: { label: "tsc --noEmit", args: [TSC, "--noEmit", "-p", "tsconfig.json"] },
    check: { label: "stepwise check", args: [STEPWISE, "check", "-p", "tsconfig.json"] },
  };
  type Key = keyof typeof variants;
  const keys = Object.keys(variants) as Key[];
  // The generated project must be clean for both, or the comparison means nothing.
  const first = spawnSync(process.execPath, variants.check.args, { cwd: dir, encoding: "utf8" });
  if (first.status !== 0 || first.stdout !== "") throw new Error(`stepwise check reported something on the generated project:\n${first.stdout}${first.stderr}`);
  const samples = Object.fromEntries(keys.map((k) => [k, [] as Sample[]])) as Record<Key, Sample[]>;
  for (const k of keys) time(dir, variants[k].args);
  for (let r = 0; r < RUNS; r++) for (const k of keys) samples[k].push(time(dir, variants[k].args));
  const med = (k: Key, f: keyof Sample) => median(samples[k].map((s) => s[f]));
  const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`check cost: ${FILES} files (${Math.floor(FILES / 10)} with steps and workflows), median of ${RUNS} runs`);
  console.log(`  ${"".padEnd(24)}${"wall".padStart(8)}${"ratio".padStart(8)}${"cpu".padStart(10)}${"ratio".padStart(8)}`);
  for (const k of keys) {
    console.log(
      `  ${variants[k].label.padEnd(24)}${fmt(med(k, "wall")).padStart(8)}${`${(med(k, "wall") / med("tsc", "wall")).toFixed(3)}x`.padStart(8)}` +
        `${fmt(med(k, "cpu")).padStart(10)}${`${(med(k, "cpu") / med("tsc", "cpu")).toFixed(3)}x`.padStart(8)}`,
    );
  }
  console.log(`  target: stepwise check <= 1.3x tsc --noEmit (cpu ratio ${(med("check", "cpu") / med("tsc", "cpu")).toFixed(3)}x)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
