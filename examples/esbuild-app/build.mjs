// Bundles and minifies the service with the Stepwise esbuild plugin:
//   npm run build && node examples/esbuild-app/build.mjs && node examples/esbuild-app/dist/server.mjs
import * as esbuild from "esbuild";
import { stepwise } from "stepwise/esbuild";

const here = new URL(".", import.meta.url).pathname;

await esbuild.build({
  absWorkingDir: here,
  entryPoints: ["src/server.ts"],
  outfile: "dist/server.mjs",
  bundle: true,
  minify: true,
  sourcemap: true, // run with node --enable-source-maps: stack traces point at src/*.ts
  platform: "node",
  target: "node20",
  format: "esm",
  // The database drivers load files of their own (PGlite's WebAssembly): keep them packages.
  external: ["@electric-sql/pglite", "pg"],
  // Bundled CommonJS dependencies call require(); give the ES module one.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  plugins: [stepwise()],
  logLevel: "info",
});
