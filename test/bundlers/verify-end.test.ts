/**
 * The check at each plugin's build end (issue 15, item 7), with the real bundlers: a tagged
 * file that another plugin or loader compiled before stepwise's (so its tags were gone when
 * stepwise saw it) fails the build, naming the function; the same build with stepwise first
 * passes; a tagged function tree-shaken out of the bundle is not named.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildScript, bundlerProject, runBuild, sh, type Toolchain } from "./harness.js";
import { writeFiles } from "../esbuild/harness.js";

const TOOLS = ["vite", "rollup", "webpack", "rspack"] as const satisfies readonly Toolchain[];

const SRC = {
  "src/main.ts": `import { reserve } from "./orders.js";\nconsole.log(await reserve("o1"));\n`,
  "src/orders.ts":
    `// Orders\n\n/** @step */\nexport async function reserve(id: string): Promise<string> { return "res-" + id; }\n\n` +
    `/** @step */\nexport async function refund(id: string): Promise<string> { return "ref-" + id; }\n`,
};

/** The harness's build script with a TypeScript compile (esbuild's, which drops comments) put ahead of stepwise's. */
function bypassed(tool: (typeof TOOLS)[number]): string {
  const script = buildScript(tool);
  const plugin = `stepwise({ manifest: "out/${tool}.manifest.json" })`;
  const out = (() => {
    switch (tool) {
      case "rollup":
        return script.replace(`plugins: [${plugin}, stripTypes()]`, `plugins: [stripTypes(), ${plugin}]`);
      case "vite":
        return `import stripTypes from "./strip-types.mjs";\n` + script.replace(`plugins: [${plugin}]`, `plugins: [{ ...stripTypes(), enforce: "pre" }, ${plugin}]`);
      case "webpack":
      case "rspack":
        // A pre-loader of the user's runs before stepwise's (the later rule's loader runs first).
        // The harness's own ts-loader drops the map it is given, so orders.ts skips it: compiled once, the map still says where its lines went.
        return script
          .replace(`module: { rules: [`, `module: { rules: [{ test: /orders\\.ts$/, enforce: "pre", loader: resolve("ts-loader.mjs") }, `)
          .replace(`{ test: /\\.ts$/, loader: resolve("ts-loader.mjs") }`, `{ test: /\\.ts$/, exclude: /orders\\.ts$/, loader: resolve("ts-loader.mjs") }`);
    }
  })();
  if (out === script) throw new Error(`the ${tool} build script changed: the bypass was not added`);
  return out;
}

let dir: string;
beforeAll(() => {
  dir = bundlerProject("stepwise-verify-end-");
  writeFiles(dir, SRC);
});
afterAll(() => {
  if (dir && !process.env.KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

describe.each(TOOLS)("%s", (tool) => {
  it("fails the build when a tagged file reached the bundle unrewritten, naming the function, not the tree-shaken one", () => {
    rmSync(join(dir, "out"), { recursive: true, force: true });
    writeFiles(dir, { [`build-${tool}-bypassed.mjs`]: bypassed(tool) });
    const r = sh(process.execPath, [`build-${tool}-bypassed.mjs`], dir);
    const output = `${r.stdout}\n${r.stderr}`;
    expect(r.status, output).not.toBe(0);
    expect(output).toContain(`step "reserve" (src/orders.ts:4) is not rewritten in `);
    expect(output).toContain("put stepwise() first in the plugins");
    expect(output).not.toContain(`"refund"`);
    expect(existsSync(join(dir, `out/${tool}.manifest.json`))).toBe(false);
  }, 300_000);

  it("passes the same build with stepwise's transform first", () => {
    rmSync(join(dir, "out"), { recursive: true, force: true });
    const r = runBuild(dir, tool);
    expect(r.ok, r.output).toBe(true);
    expect(r.output).not.toContain("not rewritten");
    expect(JSON.parse(readFileSync(join(dir, `out/${tool}.manifest.json`), "utf8")).operations.map((o: { id: string }) => o.id)).toEqual(["refund", "reserve"]);
  }, 300_000);
});
