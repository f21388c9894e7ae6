/**
 * What a new user sees with `npm start`: the checkout example, built by tspc from
 * tagged functions, runs on the embedded database; run again, it executes nothing.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { tempDir } from "../helpers/databases.js";

const main = fileURLToPath(new URL("../../dist/examples/checkout/main.js", import.meta.url));

test("the checkout example retries the payment, and a second run executes nothing", () => {
  const cwd = tempDir("stepwise-example-");
  try {
    const run = () =>
      spawnSync(process.execPath, [main], { cwd, encoding: "utf8", env: { ...process.env, STEPWISE_DATABASE_URL: "", STEPWISE_DATA_DIR: "" } });
    const first = run();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain("✗ chargeCard     payment provider timed out (attempt 2)");
    expect(first.stdout).toContain("✓ chargeCard     charged 19.99 USD (ch_order-1001, attempt 3)");
    expect(first.stdout).toContain("Recorded steps: 0:reserveStock (1 attempt), 1:chargeCard (3 attempts), 2:sendReceipt (1 attempt)");
    expect(fs.existsSync(`${cwd}/.stepwise`)).toBe(true);

    const second = run();
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain("already ran: nothing is executed again");
    expect(second.stdout).not.toContain("✓ reserveStock");
    expect(second.stdout).toContain('"chargeId":"ch_order-1001"');
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});
