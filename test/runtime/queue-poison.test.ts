/**
 * The poison-pill guarantee for queued runs: a queued workflow that kills its process on
 * every attempt is parked after maxRecoveryAttempts, as a directly started one is
 * (recovering a queued run puts it back on its queue, and that counts an attempt).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { databases } from "../helpers/databases.js";

const worker = fileURLToPath(new URL("./fixtures/queue-poison-worker.ts", import.meta.url));

describe.each(databases)("a queued poison-pill workflow on $name", (database) => {
  test("is parked as MAX_RECOVERY_ATTEMPTS_EXCEEDED after maxRecoveryAttempts; later launches leave it", async () => {
    const db = await database.create();
    const env: Record<string, string> = { ...(process.env as Record<string, string>), STEPWISE_DATABASE_URL: db.databaseUrl ?? "" };
    if (db.dataDir) env.STEPWISE_DATA_DIR = db.dataDir;
    const run = (extra: Record<string, string> = {}) =>
      spawnSync(process.execPath, ["--import", "tsx", worker], { env: { ...env, ...extra }, encoding: "utf8", timeout: 60_000 });
    try {
      // The first run and two recoveries (maxRecoveryAttempts: 2) kill the process.
      for (let i = 0; i < 3; i++) expect(run().signal, `attempt ${i + 1}`).toBe("SIGKILL");
      // The next would exceed it: parked, and the process lives.
      const parked = run();
      expect(parked.signal, parked.stderr).toBeNull();
      expect(parked.stdout).toContain("status MAX_RECOVERY_ATTEMPTS_EXCEEDED");
      // Parked, it is left alone by later launches...
      expect(run().stdout).toContain("status MAX_RECOVERY_ATTEMPTS_EXCEEDED");
    } finally {
      await db.cleanup();
    }
  }, 180_000);
});
