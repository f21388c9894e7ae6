/**
 * Cost of `stepwise check` (every rule, with the type checker, no emit) against
 * `tsc --noEmit` on the generated project of bench/build-cost.ts: 500 files, 1 in 10 with
 * steps, workflows and helpers. Prints the median of several runs of each, wall-clock and
 * CPU, and the ratio (target: at most 1.3x).
 *
 *   npm run bench:check    (or: npm run build && node dist/bench/check-cost.js [--files 500] [--runs 5])
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, median, printWallAndCpu, REPO, timeChild, writeProject, writeTsconfig, type Sample } from "./build-harness.js";
import { plainFile } from "./generated-project.js";

const FILES = arg("files", 500);
const RUNS = arg("runs", 5);
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
  writeProject(dir, FILES, stepFile, { typesNode: true });
  writeTsconfig(dir, "tsconfig.json", { outDir: "out" });
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
  for (const k of keys) timeChild(dir, variants[k].args);
  for (let r = 0; r < RUNS; r++) for (const k of keys) samples[k].push(timeChild(dir, variants[k].args));
  console.log(`check cost: ${FILES} files (${Math.floor(FILES / 10)} with steps and workflows), median of ${RUNS} runs`);
  printWallAndCpu(samples, Object.fromEntries(keys.map((k) => [k, variants[k].label])) as Record<Key, string>, "tsc", 24);
  const med = (k: Key) => median(samples[k].map((s) => s.cpu));
  console.log(`  target: stepwise check <= 1.3x tsc --noEmit (cpu ratio ${(med("check") / med("tsc")).toFixed(3)}x)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
