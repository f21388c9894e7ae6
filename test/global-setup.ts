/**
 * Builds the package once before the suites that run built output (examples, CLI
 * bundles, end-to-end projects), exactly as `npm run build` does.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
}
