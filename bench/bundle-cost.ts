/**
 * Build-time cost of the esbuild plugin: esbuild with `stepwise()` vs plain esbuild,
 * bundling a generated project of 1000 files, 1 in 10 with steps (syntactic mode, the
 * default). Printed, not asserted; the target is at most 2x.
 *
 *   cold      one build in a fresh node process (node start, esbuild's service, and for
 *             the plugin loading TypeScript), as a CLI build script runs
 *   warm      repeated esbuild.build() calls in one process
 *   rebuild   context.rebuild() with nothing changed (watch mode; the plugin's cache)
 *
 * and the plugin in three settings:
 *   nothing cached  a first build: an empty cache folder for each cold run (no rewritten
 *                   files, no TypeScript code cache), cacheDir: false for the warm runs
 *   cached          the default: the cache folder an earlier build filled (the usual case
 *                   on a developer's machine, or in CI that keeps node_modules/.cache)
 *   typeCheck       stepwise({ typeCheck: true }) (one ts.Program per build; its results
 *                   depend on other files, so no file is cached)
 *
 *   npm run bench:bundle [-- --files 1000 --runs 5]
 */
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stepwise } from "../transformer/esbuild.js";
import { arg, median, writeProject } from "./build-harness.js";
import { stepFile } from "./generated-project.js";

const FILES = arg("files", 1000);
const RUNS = arg("runs", 5);

type Variant = "plain" | "uncached" | "plugin" | "typeCheck";

/** The cache folder of the cached variants: inside the generated project, filled by the warm-up. */
const cacheOf = (dir: string) => join(dir, "stepwise-cache");

function options(dir: string, variant: Variant, cacheDir: string | false = variant === "uncached" ? false : cacheOf(dir)): esbuild.BuildOptions {
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
    plugins: variant === "plain" ? [] : [stepwise({ typeCheck: variant === "typeCheck", cacheDir })],
  };
}

// --worker <dir> <variant> [cacheDir]: one build in this fresh process, for the cold figures.
if (process.argv[2] === "--worker") {
  const [dir, variant, cacheDir] = process.argv.slice(3) as [string, Variant, string | undefined];
  await esbuild.build(options(dir, variant, cacheDir));
  process.exit(0);
}

function generate(dir: string): void {
  writeProject(dir, FILES, stepFile);
  const imports = Array.from({ length: FILES }, (_, i) => `import * as m${i} from "./m${i}.js";`);
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

function cold(dir: string, variant: Variant): number {
  // A first build: a cache folder that does not exist yet.
  const fresh = variant === "uncached" ? mkdtempSync(join(tmpdir(), "stepwise-bundle-first-")) : undefined;
  const args = [fileURLToPath(import.meta.url), "--worker", dir, variant, ...(fresh ? [join(fresh, "cache")] : [])];
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (fresh) rmSync(fresh, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`cold ${variant} build failed:\n${r.stdout}${r.stderr}`);
  return ms;
}

async function warm(dir: string, variant: Variant): Promise<number> {
  const start = process.hrtime.bigint();
  await esbuild.build(options(dir, variant));
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const dir = mkdtempSync(join(tmpdir(), "stepwise-bundle-cost-"));
try {
  generate(dir);
  const variants: Variant[] = ["plain", "uncached", "plugin", "typeCheck"];
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
  const labels: Record<Variant, string> = {
    plain: "esbuild (no plugin)",
    uncached: "esbuild + stepwise(), nothing cached",
    plugin: "esbuild + stepwise(), cached",
    typeCheck: "esbuild + stepwise({ typeCheck: true })",
  };
  const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
  console.log(`esbuild cost: bundle + minify ${FILES} files (${Math.floor(FILES / 10)} with steps), median of ${RUNS} runs`);
  console.log(`  ${"".padEnd(44)}${"cold".padStart(9)}${"ratio".padStart(8)}${"warm".padStart(9)}${"ratio".padStart(8)}${"rebuild".padStart(9)}${"ratio".padStart(8)}`);
  for (const v of variants) {
    let row = `  ${labels[v].padEnd(44)}`;
    for (const kind of ["cold", "warm", "rebuild"] as const) {
      const m = median(samples[kind].get(v)!);
      row += fmt(m).padStart(9) + `${(m / median(samples[kind].get("plain")!)).toFixed(2)}x`.padStart(8);
    }
    console.log(row);
  }
  console.log(`  target: esbuild + stepwise() <= 2x plain esbuild`);
  console.log(`  nothing cached: cold = a first build (empty cache folder), warm = cacheDir: false; cached: the cache an earlier build left`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
