import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/** `npm run test:faults`: the fault-injection suite only (it needs a Postgres server). */
export default defineConfig({
  resolve: {
    alias: { stepwise: fileURLToPath(new URL("./runtime/index.ts", import.meta.url)) },
  },
  test: {
    include: ["test/faults/**/*.test.ts"],
    testTimeout: 900_000,
    env: { STEPWISE_LOG_LEVEL: "error" },
  },
});
