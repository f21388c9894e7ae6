// Bundles the dashboard's page into dist/runtime/dashboard/ui/ (app.js, app.css), next
// to the built server: the package serves it from there, with nothing fetched at run time.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

await build({
  entryPoints: [here("./app.tsx"), here("./app.css")],
  outdir: here("../../../dist/runtime/dashboard/ui"),
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});
