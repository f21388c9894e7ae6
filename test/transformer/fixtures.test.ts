import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expectedName, fixtureNames, runFixture } from "./harness.js";

describe("transformer fixtures", () => {
  for (const name of fixtureNames()) {
    it(name, () => {
      const { actual, dir, files } = runFixture(name);
      for (const n of files.keys()) {
        const expectedPath = join(dir, expectedName(n));
        expect(existsSync(expectedPath), `${expectedPath} is missing; run with UPDATE_FIXTURES=1`).toBe(true);
        expect(actual.outputs.get(n), `${name}/${n}`).toBe(readFileSync(expectedPath, "utf8"));
      }
      const diagPath = join(dir, "diagnostics.txt");
      const expected = existsSync(diagPath) ? readFileSync(diagPath, "utf8").split("\n").filter(Boolean) : [];
      expect(actual.diagnostics).toEqual(expected);
    });
  }
});
