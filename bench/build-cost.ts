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

function plainFile(i: number): string {
  const prev = i > 0 ? `import { Model${i - 1}, total${i - 1} } from "./m${i - 1}.js";\n` : "";
  return `${prev}
export interface Model${i} {
  id: string;
  count: number;
  tags: readonly string[];
  nested: { at: Date; values: Map<string, number> };
}

/** Sums a model's values. */
export function total${i}(m: Model${i}): number {
  let sum = m.count;
  for (const v of m.nested.values.values()) sum += v;
  return sum${i > 0 ? ` + (m.tags.length > 100 ? total${i - 1}(m as unknown as Model${i - 1}) : 0)` : ""};
}

export class Store${i}<T extends Model${i}> {
  private readonly items = new Map<string, T>();
  add(item: T): this {
    this.items.set(item.id, item);
    return this;
  }
  find(pred: (t: T) => boolean): T | undefined {
    for (const t of this.items.values()) if (pred(t)) return t;
    return undefined;
  }
  get size(): number {
    return this.items.size;
  }
}

export const make${i} = (id: string): Model${i} => ({ id, count: ${i}, tags: [], nested: { at: new Date(0), values: new Map() } });
${prev ? `export type Both${i} = Model${i} & Partial<Model${i - 1}>;\n` : ""}`;
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

function time(dir: string, compiler: string, project: string): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [compiler, "-p", project], { cwd: dir, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${compiler} -p ${project} failed:\n${r.stdout}${r.stderr}`);
  return ms;
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
  const runs = { tsc: [] as number[], tspcPlain: [] as number[], tspcStepwise: [] as number[], patched: [] as number[] };
  // One warm-up of each (disk cache, ts-patch's patched compiler cache), then interleaved runs.
  time(dir, TSC, "tsconfig.plain.json");
  time(dir, TSPC, "tsconfig.stepwise.json");
  time(dir, patched, "tsconfig.stepwise.json");
  for (let r = 0; r < RUNS; r++) {
    runs.tsc.push(time(dir, TSC, "tsconfig.plain.json"));
    runs.tspcPlain.push(time(dir, TSPC, "tsconfig.plain.json"));
    runs.tspcStepwise.push(time(dir, TSPC, "tsconfig.stepwise.json"));
    runs.patched.push(time(dir, patched, "tsconfig.stepwise.json"));
  }
  const tsc = median(runs.tsc);
  const tspcPlain = median(runs.tspcPlain);
  const tspcStepwise = median(runs.tspcStepwise);
  const patchedStepwise = median(runs.patched);
  const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`build cost: ${FILES} files (${Math.floor(FILES / 10)} with steps), median of ${RUNS} runs`);
  console.log(`  tsc (no plugin)                ${fmt(tsc)}`);
  console.log(`  tspc (no plugin)               ${fmt(tspcPlain)}   ${(tspcPlain / tsc).toFixed(3)}x tsc`);
  console.log(`  tspc + stepwise transformer    ${fmt(tspcStepwise)}   ${(tspcStepwise / tsc).toFixed(3)}x tsc   (target <= 1.15x)`);
  console.log(`  tsc after ts-patch install     ${fmt(patchedStepwise)}   ${(patchedStepwise / tsc).toFixed(3)}x tsc   (+ stepwise transformer)`);
  console.log(`  transformer alone              ${(tspcStepwise / tspcPlain).toFixed(3)}x tspc without it`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
