import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

export default defineConfig({
  resolve: {
    // Tests import the package by its public name, served from source.
    alias: { stepwise: fileURLToPath(new URL("./runtime/index.ts", import.meta.url)) },
  },
  test: {
    include: ["test/**/*.test.ts"],
    // The fault-injection suite runs on its own: npm run test:faults.
    exclude: ["test/faults/**", "**/node_modules/**"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: crash tests spawn child processes, so keep parallel files modest.
    maxWorkers: 2,
    // Retry warnings from steps outside a workflow are expected in the suites.
    env: { STEPWISE_LOG_LEVEL: "error" },
  },
});
