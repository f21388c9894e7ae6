/**
 * Builds the package once before the suites that run built output (examples, CLI
 * bundles, end-to-end projects), exactly as `npm run build` does.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  // For a quick run of suites that need no built output, while another change is half-done.
  if (process.env.STEPWISE_TEST_SKIP_BUILD === "1") return;
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
}
