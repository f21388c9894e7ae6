/**
 * Shared by the bundler tests: a project folder whose node_modules resolves "stepwise" to
 * this repo (built, dist/) and each bundler to the copy installed here, and one build script
 * per toolchain, run in a fresh process as a user's would, each with the plugin from its
 * public entry (stepwise/vite, stepwise/rollup, ...) and the manifest option.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeProject, mustSucceed, REPO, tempDir } from "../esbuild/harness.js";

export { REPO, mustSucceed, tempDir };

/**
 * A command to its end. The bundlers and `next build` are slow on a loaded 2-core machine
 * (the whole suite runs two files at a time), so the limit is generous: 10 minutes.
 */
export function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8", timeout: 600_000 });
  if (r.error) throw r.error;
  return r;
}

export const TOOLCHAINS = ["esbuild", "vite", "rollup", "webpack", "rspack", "bun"] as const;
export type Toolchain = (typeof TOOLCHAINS)[number];

const TOOL_PACKAGES = ["vite", "rollup", "webpack", "@rspack", "esbuild", "@types/bun"];

/** A project with `src` copied in, the tools linked, and a TypeScript-stripping step for the bundlers that have none. */
export function bundlerProject(prefix: string, src?: string): string {
  const dir = makeProject(tempDir(prefix), "module", src);
  for (const p of TOOL_PACKAGES) {
    try {
      symlinkSync(join(REPO, "node_modules", p), join(dir, "node_modules", p));
    } catch {
      // @types/bun may be absent; the others are devDependencies of this repo.
    }
  }
  writeFileSync(join(dir, "strip-types.mjs"), STRIP_TYPES);
  writeFileSync(join(dir, "ts-loader.mjs"), TS_LOADER);
  return dir;
}

// Rollup and webpack compile no TypeScript themselves: users add a plugin or loader
// (@rollup/plugin-typescript, esbuild-loader, ts-loader). These two stand in for them,
// after stepwise's, with esbuild's transform (and `./x.js` imports resolved to `./x.ts`).
const STRIP_TYPES = `
import { transform } from "esbuild";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
export default function stripTypes() {
  return {
    name: "strip-types",
    resolveId(source, importer) {
      if (!importer || !source.startsWith(".") || !source.endsWith(".js")) return null;
      const ts = resolve(dirname(importer), source.slice(0, -3) + ".ts");
      return existsSync(ts) ? ts : null;
    },
    async transform(code, id) {
      if (!/\\.ts$/.test(id)) return null;
      const r = await transform(code, { loader: "ts", format: "esm", sourcemap: true, sourcefile: id });
      return { code: r.code, map: r.map };
    },
  };
}
`;
const TS_LOADER = `
import { transform } from "esbuild";
export default function tsLoader(source, map) {
  const done = this.async();
  transform(source, { loader: "ts", format: "esm", sourcemap: "external", sourcefile: this.resourcePath })
    .then((r) => done(null, r.code, r.map), done);
}
`;

const EXTERNAL = `["@electric-sql/pglite", "pg"]`;

/** The build script of `tool`: builds src/main.ts into out/<tool>/ (main.mjs) and writes out/<tool>.manifest.json. */
export function buildScript(tool: Toolchain, opts: { entry?: string; pluginOptions?: string } = {}): string {
  const entry = opts.entry ?? "src/main.ts";
  const plugin = `stepwise({ manifest: "out/${tool}.manifest.json"${opts.pluginOptions ? ", " + opts.pluginOptions : ""} })`;
  switch (tool) {
    case "esbuild":
      return `
import * as esbuild from "esbuild";
import { stepwise } from "stepwise/esbuild";
await esbuild.build({ entryPoints: ["${entry}"], outfile: "out/esbuild/main.mjs", bundle: true, minify: true, sourcemap: true, platform: "node",
  format: "esm", target: "node20", external: ${EXTERNAL}, logLevel: "warning", plugins: [${plugin}],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } });
`;
    case "vite":
      return `
import { build } from "vite";
import stepwise from "stepwise/vite";
await build({ root: process.cwd(), configFile: false, logLevel: "warn", plugins: [${plugin}],
  ssr: { external: ${EXTERNAL} },
  build: { ssr: "${entry}", outDir: "out/vite", minify: true, sourcemap: true, emptyOutDir: true,
    rollupOptions: { output: { entryFileNames: "main.mjs" } } } });
`;
    case "rollup":
      return `
import { rollup } from "rollup";
import stepwise from "stepwise/rollup";
import stripTypes from "./strip-types.mjs";
const bundle = await rollup({ input: "${entry}", plugins: [${plugin}, stripTypes()],
  external: (id) => id === "stepwise" || id.startsWith("node:") || ${EXTERNAL}.includes(id) });
await bundle.write({ dir: "out/rollup", format: "es", sourcemap: true, entryFileNames: "main.mjs" });
await bundle.close();
`;
    case "webpack":
    case "rspack": {
      const rspack = tool === "rspack";
      const rule = rspack
        ? `{ test: /\\.ts$/, loader: "builtin:swc-loader", options: { jsc: { parser: { syntax: "typescript" }, target: "es2022" } }, type: "javascript/auto" }`
        : `{ test: /\\.ts$/, loader: resolve("ts-loader.mjs") }`;
      return `
import ${rspack ? "{ rspack as bundler }" : "bundler"} from "${rspack ? "@rspack/core" : "webpack"}";
import stepwise from "stepwise/${tool}";
import { resolve } from "node:path";
const compiler = bundler({
  mode: "production", target: "node20", context: process.cwd(), entry: "./${entry}", devtool: "source-map",
  output: { path: resolve("out/${tool}"), filename: "main.mjs", module: true, chunkFormat: "module", library: { type: "module" } },
  experiments: { outputModule: true },
  resolve: { extensions: [".ts", ".js"], extensionAlias: { ".js": [".ts", ".js"] } },
  module: { rules: [${rule}] },
  externalsType: "node-commonjs", externals: ["stepwise", ...${EXTERNAL}],
  plugins: [${plugin}],
});
const stats = await new Promise((res, rej) => compiler.run((err, s) => (err ? rej(err) : res(s))));
await new Promise((r) => compiler.close(r));
const info = stats.toJson({ all: false, errors: true, warnings: true });
for (const w of info.warnings) console.warn(w.message);
if (stats.hasErrors()) { for (const e of info.errors) console.error(e.message); process.exit(1); }
`;
    }
    case "bun":
      return `
import stepwise from "stepwise/bun";
const r = await Bun.build({ entrypoints: ["${entry}"], outdir: "out/bun", naming: "main.mjs", target: "node", format: "esm", minify: true,
  sourcemap: "linked", external: ["stepwise", ...${EXTERNAL}], plugins: [${plugin}] });
for (const l of r.logs) console.warn(String(l));
if (!r.success) process.exit(1);
`;
  }
}

/** Runs `tool`'s build script in `dir` in a new process; returns its output, or throws with it. */
export function runBuild(dir: string, tool: Toolchain, opts: { entry?: string; pluginOptions?: string } = {}): { ok: boolean; output: string } {
  const file = `build-${tool}.mjs`;
  writeFileSync(join(dir, file), buildScript(tool, opts));
  const cmd = tool === "bun" ? join(REPO, "node_modules/.bin/bun") : process.execPath;
  const r = sh(cmd, [file], dir);
  return { ok: r.status === 0, output: `${r.stdout}\n${r.stderr}` };
}
