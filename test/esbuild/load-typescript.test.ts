/**
 * The esbuild plugin loads TypeScript with a V8 code cache (transformer/load-typescript.ts).
 * Each case is a fresh node process, as a build script is: the first writes the cache,
 * the next one uses it, and a cache that is damaged or cannot be written only costs time.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, tempDir } from "./harness.js";

const LOADER = join(REPO, "dist/transformer/esbuild/load-typescript.js");

/** Loads TypeScript in a new process with `cacheDir`, parses a file with it, saves the cache; returns what it saw. */
function freshProcess(cacheDir: string | false): { cache: string; parsed: number; sameInstance: boolean } {
  const script = `
    import { loadTypeScript } from ${JSON.stringify(LOADER)};
    import { createRequire } from "node:module";
    const loaded = loadTypeScript(${JSON.stringify(cacheDir)});
    const sf = loaded.ts.createSourceFile("a.ts", "export async function f(a: number) { return a + 1 }", loaded.ts.ScriptTarget.Latest, true);
    loaded.saveCache();
    const again = loadTypeScript(${JSON.stringify(cacheDir)});
    const required = createRequire(${JSON.stringify(LOADER)})("typescript");
    console.log(JSON.stringify({ cache: loaded.cache, parsed: sf.statements.length, sameInstance: again.ts === loaded.ts && required === loaded.ts }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim());
}

const cacheFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".cache")) : []);

describe("loading TypeScript for the esbuild plugin", () => {
  it("writes a code cache after the first load, and the next process uses it", () => {
    const dir = join(tempDir("stepwise-tscache-"), "cache");
    expect(freshProcess(dir)).toEqual({ cache: "miss", parsed: 1, sameInstance: true });
    expect(cacheFiles(dir)).toHaveLength(1);
    expect(freshProcess(dir)).toEqual({ cache: "hit", parsed: 1, sameInstance: true });
  });

  it("a damaged cache is refused by V8 and written again", () => {
    const dir = join(tempDir("stepwise-tscache-"), "cache");
    freshProcess(dir);
    const [file] = cacheFiles(dir);
    writeFileSync(join(dir, file!), Buffer.from("not a V8 code cache"));
    expect(freshProcess(dir)).toEqual({ cache: "rejected", parsed: 1, sameInstance: true });
    expect(freshProcess(dir).cache).toBe("hit");
  });

  it("a cache folder that cannot be written leaves loading working", () => {
    const root = tempDir("stepwise-tscache-");
    // A file where the folder would go: mkdir fails whoever runs the test (root ignores modes).
    writeFileSync(join(root, "blocked"), "");
    expect(freshProcess(join(root, "blocked", "cache"))).toEqual({ cache: "miss", parsed: 1, sameInstance: true });
    const ro = join(root, "ro");
    freshProcess(ro);
    chmodSync(ro, 0o500);
    expect(freshProcess(ro).cache).toBe("hit");
  });

  it("compileCache: false loads the package the ordinary way", () => {
    expect(freshProcess(false)).toEqual({ cache: "off", parsed: 1, sameInstance: true });
  });
});
