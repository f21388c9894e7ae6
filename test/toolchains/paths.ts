/**
 * The Node binaries and compilers of test/toolchains (a package of its own: their bins
 * would shadow the project's tsc, tspc and node in node_modules/.bin).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "node_modules");

function need(rel: string): string {
  const p = join(ROOT, rel);
  if (!existsSync(p)) throw new Error(`${p} is missing: install the test toolchains with npm ci --prefix test/toolchains`);
  return p;
}

export const toolchains = {
  node22: () => need("node-22/bin/node"),
  node24: () => need("node-24/bin/node"),
  /** A package folder, for TSP_COMPILER_TS_PATH or require. */
  typescript6: () => need("typescript-6"),
  typescript7: () => need("typescript-7"),
  tsc7: () => need("typescript-7/bin/tsc"),
  tspc4: () => need("ts-patch-4/bin/tspc.js"),
};
