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
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, median, printWallAndCpu, REPO, timeChild, writeProject, writeTsconfig, type Sample } from "./build-harness.js";
import { stepFile } from "./generated-project.js";

const FILES = arg("files", 500);
const RUNS = arg("runs", 5);
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

function generate(dir: string): void {
  writeProject(dir, FILES, stepFile, { typesNode: true });
  writeTsconfig(dir, "tsconfig.plain.json", { outDir: "out-plain" });
  writeTsconfig(dir, "tsconfig.stepwise.json", { outDir: "out-stepwise", plugins: [{ transform: "stepwise/transformer" }] });
}

const time = (dir: string, compiler: string, project: string): Sample => timeChild(dir, [compiler, "-p", project]);

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
  console.log(`build cost: ${FILES} files (${Math.floor(FILES / 10)} with steps), median of ${RUNS} runs`);
  printWallAndCpu(samples, Object.fromEntries(keys.map((k) => [k, variants[k].label])) as Record<Key, string>, "tsc", 40);
  const med = (k: Key) => median(samples[k].map((s) => s.cpu));
  console.log(`  target: tspc + stepwise <= 1.15x tsc; the transformer alone costs ${(med("tspc") / med("tspcPlain")).toFixed(3)}x tspc without it (cpu)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
