#!/usr/bin/env node
// Runs a representative part of the suite under Node 22 and 24 (test/toolchains), after
// the full suite has run on the machine's Node 20 (npm test). The part: the runtime's
// semantics and crash recovery (their child processes run on the same Node), the esbuild
// end-to-end build and the CLI. Left to Node 20: the transformer's fixture and rule tests
// (TypeScript's JS API does not depend on Node) and tspc's end-to-end builds (tsc-bound,
// the slowest files); the loader and TypeScript 6/7 tests run Node 22 and 24 themselves.
//   node test/toolchains/run-vitest.mjs [22 24] [-- extra vitest args]
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "../..");
const SUBSET = [
  "test/runtime/workflows.test.ts",
  "test/runtime/crash.test.ts",
  "test/runtime/messaging.test.ts",
  "test/runtime/transactions.test.ts",
  "test/runtime/queue-workers.test.ts",
  "test/runtime/serialize.test.ts",
  "test/runtime/system-database.test.ts",
  "test/esbuild/e2e.test.ts",
  "test/cli/check.test.ts",
];
const dash = process.argv.indexOf("--");
const versions = (dash < 0 ? process.argv.slice(2) : process.argv.slice(2, dash)).filter(Boolean);
const extra = dash < 0 ? [] : process.argv.slice(dash + 1);
let failed = false;
for (const v of versions.length ? versions : ["22", "24"]) {
  const node = join(here, `node_modules/node-${v}/bin/node`);
  if (!existsSync(node)) {
    console.error(`${node} is missing: npm ci --prefix test/toolchains`);
    process.exit(1);
  }
  console.log(`\n== Node ${v}: ${SUBSET.length} test files ==`);
  // The package was built by the Node 20 run before; dist/ does not depend on the Node that runs it.
  const r = spawnSync(node, [join(repo, "node_modules/vitest/vitest.mjs"), "run", ...SUBSET, ...extra], {
    cwd: repo,
    stdio: "inherit",
    env: { ...process.env, STEPWISE_TEST_SKIP_BUILD: "1" },
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
