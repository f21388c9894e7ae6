/**
 * Cost of the Vite plugin (stepwise/vite) on the generated project of bundle-cost.ts
 * (1000 files, 1 in 10 with steps; syntactic mode, the default). Printed, not asserted;
 * every ratio is to plain Vite measured in the same run.
 *
 *   transform/file  the plugin's transform hook on a file with steps: cold (the first file
 *                   in a fresh process: TypeScript loaded, nothing cached) and warm (the
 *                   100 step files again in that process, a new plugin instance, no cache)
 *   vite build      `vite build` of the project in a fresh process: plain, with the plugin
 *                   and nothing cached (a first build), with the plugin and the cache an
 *                   earlier build left (the default cacheDir)
 *   dev start       a dev server started in a fresh process and every module requested
 *                   once (transformRequest, as a first page load or SSR import asks)
 *
 *   npm run bench:vite [-- --files 1000 --runs 3]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { arg, median, writeProject } from "./build-harness.js";
import { stepFile } from "./generated-project.js";

const FILES = arg("files", 1000);
const RUNS = arg("runs", 3);

type Variant = "plain" | "uncached" | "plugin";

async function plugins(variant: Variant, cacheDir?: string): Promise<unknown[]> {
  if (variant === "plain") return [];
  const { default: stepwise } = await import("../transformer/plugins/vite.js");
  return [stepwise(variant === "uncached" ? { cacheDir: cacheDir ?? false } : {})];
}

// --worker <kind> <dir> <variant> [cacheDir]: one measurement in this fresh process; prints MS <n>.
if (process.argv[2] === "--worker") {
  const [kind, dir, variant, maybeCache] = process.argv.slice(3) as ["build" | "dev" | "transform", string, Variant, string | undefined];
  const cacheDir = maybeCache?.startsWith("--") ? undefined : maybeCache;
  const start = process.hrtime.bigint();
  if (kind === "transform") {
    // The first file with steps through the plugin's transform hook.
    const { default: stepwise } = await import("../transformer/plugins/vite.js");
    const p = stepwise({ cacheDir: false }) as unknown as { transform: { handler: (this: unknown, code: string, id: string) => unknown } };
    const file = join(dir, "src/m9.ts");
    p.transform.handler.call({ warn() {}, error(e: string) { throw new Error(e); } }, readFileSync(file, "utf8"), file);
  } else {
    const vite = await import("vite");
    const config = { root: dir, configFile: false as const, logLevel: "silent" as const, plugins: (await plugins(variant, cacheDir)) as never[] };
    if (kind === "build")
      await vite.build({ ...config, build: { ssr: "src/main.ts", outDir: `out-${variant}`, minify: true, sourcemap: true, rollupOptions: { external: ["stepwise"] } } });
    else {
      const server = await vite.createServer({ ...config, appType: "custom", server: { middlewareMode: true, ws: false } });
      for (let i = 0; i < FILES; i++) await server.transformRequest(`/src/m${i}.ts`, { ssr: true });
      await server.close();
    }
  }
  console.log(`MS ${Number(process.hrtime.bigint() - start) / 1e6}`);
  process.exit(0);
}

function worker(kind: string, dir: string, variant: Variant): number {
  // A first build: a cache folder that does not exist yet.
  const fresh = variant === "uncached" ? mkdtempSync(join(tmpdir(), "stepwise-vite-first-")) : undefined;
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--worker", kind, dir, variant, ...(fresh ? [join(fresh, "cache")] : []), "--files", String(FILES)], { encoding: "utf8" });
  if (fresh) rmSync(fresh, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`${kind} ${variant} failed:\n${r.stdout}${r.stderr}`);
  return Number(/MS (\S+)/.exec(r.stdout)![1]);
}

async function warmTransform(dir: string): Promise<number> {
  const { default: stepwise } = await import("../transformer/plugins/vite.js");
  const files = readdirSync(join(dir, "src")).filter((f) => /^m\d*9\.ts$/.test(f)).map((f) => join(dir, "src", f));
  const texts = files.map((f) => readFileSync(f, "utf8"));
  const ctx = { warn() {}, error(e: string) { throw new Error(e); } };
  const once = () => {
    const p = stepwise({ cacheDir: false }) as unknown as { transform: { handler: (this: unknown, code: string, id: string) => unknown } };
    files.forEach((f, i) => p.transform.handler.call(ctx, texts[i]!, f));
  };
  once();
  const start = process.hrtime.bigint();
  for (let r = 0; r < RUNS; r++) once();
  return Number(process.hrtime.bigint() - start) / 1e6 / RUNS / files.length;
}

const dir = mkdtempSync(join(tmpdir(), "stepwise-vite-cost-"));
try {
  writeProject(dir, FILES, stepFile);
  const imports = Array.from({ length: FILES }, (_, i) => `import * as m${i} from "./m${i}.js";`);
  writeFileSync(join(dir, "src/main.ts"), `${imports.join("\n")}\nconsole.log([${Array.from({ length: FILES }, (_, i) => `m${i}`).join(", ")}].length);\n`);
  const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`);
  // The default cache (node_modules/.cache/stepwise beside typescript) filled once first.
  worker("build", dir, "plugin");
  const variants: Variant[] = ["plain", "uncached", "plugin"];
  const build = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  const dev = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  const coldTransform: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const v of variants) build.get(v)!.push(worker("build", dir, v));
    for (const v of variants) dev.get(v)!.push(worker("dev", dir, v));
    coldTransform.push(worker("transform", dir, "uncached"));
  }
  const warm = await warmTransform(dir);
  console.log(`Vite plugin cost: ${FILES} files (${Math.floor(FILES / 10)} with steps), median of ${RUNS} runs, each in a fresh process`);
  console.log(`  transform of a file with steps: cold ${fmt(median(coldTransform))} (TypeScript loaded, nothing cached), warm ${fmt(warm)}`);
  const labels: Record<Variant, string> = { plain: "vite (no plugin)", uncached: "vite + stepwise(), nothing cached", plugin: "vite + stepwise(), cached" };
  console.log(`  ${"".padEnd(36)}${"vite build".padStart(11)}${"ratio".padStart(8)}${"dev start".padStart(11)}${"ratio".padStart(8)}`);
  for (const v of variants) {
    const b = median(build.get(v)!);
    const d = median(dev.get(v)!);
    console.log(`  ${labels[v].padEnd(36)}${fmt(b).padStart(11)}${`${(b / median(build.get("plain")!)).toFixed(2)}x`.padStart(8)}${fmt(d).padStart(11)}${`${(d / median(dev.get("plain")!)).toFixed(2)}x`.padStart(8)}`);
  }
  console.log(`  targets: vite build with the plugin <= 1.5x without once caches exist, <= 2x with nothing cached`);
  console.log(`  dev start: createServer + every module requested once (SSR transform)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
