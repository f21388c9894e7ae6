/**
 * Before any suite: installs the test toolchains (Node 22 and 24, TypeScript 6 and 7,
 * ts-patch 4; a package of their own, test/toolchains) when they are missing, so that
 * `npm install && npm test` is all a new clone needs; then builds the package once for
 * the suites that run built output (examples, CLI bundles, end-to-end projects), exactly
 * as `npm run build` does.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const toolchains = fileURLToPath(new URL("./toolchains", import.meta.url));
  if (!existsSync(`${toolchains}/node_modules/.package-lock.json`)) {
    console.log("Installing the test toolchains once (npm ci --prefix test/toolchains) ...");
    execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--prefix", toolchains], { cwd: root, stdio: "inherit" });
  }
  // For a quick run of suites that need no built output, while another change is half-done.
  if (process.env.STEPWISE_TEST_SKIP_BUILD === "1") return;
  execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
}
