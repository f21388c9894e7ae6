/**
 * The usual frame of a runtime suite: before its tests, a fresh database of the given
 * kind and Stepwise launched on it (silent); after them, shut down and dropped. Returns
 * a maker of workflow IDs unique to this suite's database.
 */
import { afterAll, beforeAll } from "vitest";
import { Stepwise, type LaunchConfig } from "stepwise";
import type { TestDatabase } from "./databases.js";

export function launchedOn(database: TestDatabase, config: LaunchConfig = {}): { id(name: string): string } {
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const created = await database.create();
    cleanup = created.cleanup;
    await Stepwise.launch({ ...created, logLevel: "silent", ...config });
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    await cleanup?.();
  });
  return { id: (name) => `${name}-${database.name}-${Math.random().toString(36).slice(2, 8)}` };
}
