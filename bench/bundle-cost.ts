/**
 * Build-time cost of the esbuild plugin: esbuild with `stepwise()` vs plain esbuild,
 * bundling a generated project of 1000 files, 1 in 10 with steps (syntactic mode, the
 * default). Printed, not asserted; the target is at most 2x.
 *
 *   cold      one build in a fresh node process (node start, esbuild's service, and for
 *             the plugin loading TypeScript), as a CLI build script runs
 *   warm      repeated esbuild.build() calls in one process
 *   rebuild   context.rebuild() with nothing changed (watch mode; the plugin's cache)
 *   typeCheck the same, with stepwise({ typeCheck: true }) (one ts.Program per build)
 *
 *   npm run bench:bundle [-- --files 1000 --runs 5]
 */
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stepwise } from "../transformer/esbuild.js";
import { plainFile } from "./generated-project.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const FILES = arg("files", 1000);
const RUNS = arg("runs", 5);
const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, here.includes(`${join("dist", "bench")}`) ? "../.." : "..");

type Variant = "plain" | "plugin" | "typeCheck";

function options(dir: string, variant: Variant): esbuild.BuildOptions {
  return {
    absWorkingDir: dir,
    entryPoints: ["src/main.ts"],
    bundle: true,
    minify: true,
    platform: "node",
    format: "esm",
    outfile: `out-${variant}/main.js`,
    sourcemap: true,
    // The runtime is the same with or without the plugin; leave it out of the figures.
    external: ["stepwise"],
    logLevel: "silent",
    plugins: variant === "plain" ? [] : [stepwise({ typeCheck: variant === "typeCheck" })],
  };
}

// --worker <dir> <variant>: one build in this fresh process, for the cold figures.
if (process.argv[2] === "--worker") {
  await esbuild.build(options(process.argv[3]!, process.argv[4] as Variant));
  process.exit(0);
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
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(REPO, join(dir, "node_modules/stepwise"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "bench-project", private: true, type: "module" }));
  const imports: string[] = [];
  for (let i = 0; i < FILES; i++) {
    const tagged = i % 10 === 9;
    writeFileSync(join(dir, "src", `m${i}.ts`), tagged ? stepFile(i) : plainFile(i));
    imports.push(`import * as m${i} from "./m${i}.js";`);
  }
  // Every module reachable from one entry, and used, so nothing is tree-shaken away.
  writeFileSync(join(dir, "src/main.ts"), `${imports.join("\n")}\nconsole.log([${Array.from({ length: FILES }, (_, i) => `m${i}`).join(", ")}].length);\n`);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, skipLibCheck: true, noEmit: true, types: [] },
      include: ["src"],
    }),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function cold(dir: string, variant: Variant): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--worker", dir, variant], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cold ${variant} build failed:\n${r.stdout}${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function warm(dir: string, variant: Variant): Promise<number> {
  const start = process.hrtime.bigint();
  await esbuild.build(options(dir, variant));
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const dir = mkdtempSync(join(tmpdir(), "stepwise-bundle-cost-"));
try {
  generate(dir);
  const variants: Variant[] = ["plain", "plugin", "typeCheck"];
  const samples = { cold: new Map<Variant, number[]>(), warm: new Map<Variant, number[]>(), rebuild: new Map<Variant, number[]>() };
  for (const m of Object.values(samples)) for (const v of variants) m.set(v, []);
  // A warm-up of each (disk cache, TypeScript in this process), then interleaved runs so
  // that background load on the machine spreads over the variants alike.
  for (const v of variants) await warm(dir, v);
  for (let r = 0; r < RUNS; r++) {
    for (const v of variants) samples.cold.get(v)!.push(cold(dir, v));
    for (const v of variants) samples.warm.get(v)!.push(await warm(dir, v));
  }
  for (const v of variants) {
    const ctx = await esbuild.context(options(dir, v));
    await ctx.rebuild();
    for (let r = 0; r < RUNS; r++) {
      const start = process.hrtime.bigint();
      await ctx.rebuild();
      samples.rebuild.get(v)!.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    await ctx.dispose();
  }
  const labels: Record<Variant, string> = { plain: "esbuild (no plugin)", plugin: "esbuild + stepwise()", typeCheck: "esbuild + stepwise({ typeCheck: true })" };
  const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
  console.log(`esbuild cost: bundle + minify ${FILES} files (${Math.floor(FILES / 10)} with steps), median of ${RUNS} runs`);
  console.log(`  ${"".padEnd(42)}${"cold".padStart(9)}${"ratio".padStart(8)}${"warm".padStart(9)}${"ratio".padStart(8)}${"rebuild".padStart(9)}${"ratio".padStart(8)}`);
  for (const v of variants) {
    let row = `  ${labels[v].padEnd(42)}`;
    for (const kind of ["cold", "warm", "rebuild"] as const) {
      const m = median(samples[kind].get(v)!);
      row += fmt(m).padStart(9) + `${(m / median(samples[kind].get("plain")!)).toFixed(2)}x`.padStart(8);
    }
    console.log(row);
  }
  console.log(`  target: esbuild + stepwise() <= 2x plain esbuild`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
