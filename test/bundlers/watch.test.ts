/**
 * Dev server and watch mode. Vite's dev server (SSR, in a child process as `vite dev`
 * runs) serves the order service compiled in; an edit is hot-reloaded and the next run
 * uses the new code under the same IDs (HMR does not lose or refuse them); an edit that
 * breaks a rule is reported by the dev server and the fix is picked up. Rollup's watch,
 * webpack's and Rspack's watch pick up an edit that adds an error, then the fix.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { watch as rollupWatch, type RollupWatcher } from "rollup";
import webpack from "webpack";
import { rspack } from "@rspack/core";
import rollupStepwise from "../../transformer/plugins/rollup.js";
import webpackStepwise from "../../transformer/plugins/webpack.js";
import rspackStepwise from "../../transformer/plugins/rspack.js";
import { tempDir, writeFiles } from "../esbuild/harness.js";
import { bundlerProject, mustSucceed, REPO, sh } from "./harness.js";

const dirs: string[] = [];
afterAll(() => {
  if (!process.env.KEEP_E2E) for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("vite dev server", () => {
  let out: string;
  beforeAll(() => {
    const dir = bundlerProject("stepwise-vite-dev-", join(REPO, "test/transformer/e2e-project/src"));
    dirs.push(dir);
    writeFileSync(join(dir, "dev.mjs"), DEV_SCRIPT);
    out = mustSucceed(sh(process.execPath, ["dev.mjs"], dir, { STEPWISE_LOG_LEVEL: "error" }), "vite dev script");
  }, 600_000);

  const line = (prefix: string) => {
    const l = out.split("\n").find((x) => x.startsWith(prefix + " "));
    if (!l) throw new Error(`no ${prefix} line in:\n${out}`);
    return JSON.parse(l.slice(prefix.length + 1));
  };

  it("serves the modules compiled in, and runs the workflow durably", () => {
    expect(line("COMPILED")).toBe(true);
    expect(line("RESULT1")).toEqual({ reservation: "res-o1", charge: "ch-o1", receipt: "sent-o1" });
  });

  it("after a hot update, runs the edited code under the same IDs", () => {
    expect(line("RESULT2")).toEqual({ reservation: "res-o1", charge: "ch-o1", receipt: "resent-o1" });
    expect(line("STEPS2")).toEqual(["reserve", "Payments.charge", "hold", "notify"]);
  });

  it("reports an edit that breaks a rule, and picks up the fix", () => {
    expect(line("ERROR")).toMatch(/src\/orders\.ts\(\d+,\d+\): error SW1003 a step must be async/);
    expect(line("FIXED")).toEqual({ reservation: "res-o1", charge: "ch-o1", receipt: "resent-o1" });
  });
});

// Runs in the project: the dev server, the runtime in the same process (as a framework's SSR dev server does).
const DEV_SCRIPT = `
import { createServer } from "vite";
import stepwise from "stepwise/vite";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
const print = (k, v) => console.log(k + " " + JSON.stringify(v));
const server = await createServer({ root: process.cwd(), configFile: false, logLevel: "silent", appType: "custom",
  // node_modules/stepwise links to the repo: keep it the installed package it is for a user.
  resolve: { preserveSymlinks: true }, server: { middlewareMode: true }, plugins: [stepwise()] });
const { Stepwise } = await import("stepwise");
await Stepwise.launch({ dataDir: ".stepwise" });
const file = resolve("src/orders.ts");
const original = readFileSync(file, "utf8");
const code = (await server.transformRequest("/src/orders.ts", { ssr: true })).code;
print("COMPILED", code.includes('"Payments.charge"') && code.includes("__stepwise"));
let mod = await server.ssrLoadModule("/src/orders.ts");
const run = async (id) => (await Stepwise.startWorkflow(mod.checkout, { workflowID: id })("o1")).getResult();
print("RESULT1", await run("dev-1"));
/** Edits the file and waits for the dev server to serve the new module (its watcher invalidates it). */
async function edit(text, ready) {
  writeFileSync(file, text);
  for (const deadline = Date.now() + 30000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    try { mod = await server.ssrLoadModule("/src/orders.ts"); if (await ready(mod)) return; }
    catch (e) { if (await ready(null, e)) return; }
  }
  throw new Error("the dev server never served the edit");
}
const edited = original.replace("\`sent-\${orderId}\`", "\`resent-\${orderId}\`");
await edit(edited, async (m) => m && (await m.notify("x")) === "resent-x");
print("RESULT2", await run("dev-2"));
print("STEPS2", (await Stepwise.listWorkflowSteps("dev-2")).map((s) => s.stepID));
let error;
await edit(edited.replace("async function reserve", "function reserve"), async (_m, e) => !!(e && (error = e.message)));
print("ERROR", error.split("\\n").find((l) => l.includes("SW1003")));
await edit(edited, async (m) => !!m);
print("FIXED", await run("dev-3"));
await Stepwise.shutdown();
await server.close();
`;

const STEPS = `/** @step */\nexport async function charge() { return 1; }\n`;
const MAIN = `import { charge } from "./steps.js";\nconsole.log(await charge());\n`;

/** Edits and waits for each rebuild: `next()` resolves with the next build's error text, or its output. */
async function editCycle(dir: string, read: () => string, next: () => Promise<{ error?: string }>): Promise<void> {
  let r = await next();
  expect(r.error).toBeUndefined();
  expect(read()).toContain(`name: "charge"`);
  writeFileSync(join(dir, "src/steps.ts"), `/** @step */\nexport function charge() { return 1; }\n`);
  r = await next();
  expect(r.error).toMatch(/src\/steps\.ts\(2,17\): error SW1003 /);
  writeFileSync(join(dir, "src/steps.ts"), `/** @step { name: "charge.v2" } */\nexport async function charge() { return 1; }\n`);
  r = await next();
  expect(r.error).toBeUndefined();
  expect(read()).toContain(`name: "charge.v2"`);
}

/** Results of a watcher in order, awaited one at a time. */
function queue<T>() {
  const items: T[] = [];
  const waiters: ((t: T) => void)[] = [];
  return {
    push: (t: T) => (waiters.length ? waiters.shift()!(t) : items.push(t)),
    next: () => new Promise<T>((res, rej) => {
      if (items.length) return res(items.shift()!);
      const timer = setTimeout(() => rej(new Error("no rebuild within 30 s")), 30_000);
      waiters.push((t) => (clearTimeout(timer), res(t)));
    }),
  };
}

describe("watch mode", () => {
  const project = () => {
    const dir = tempDir("stepwise-watch-");
    dirs.push(dir);
    writeFiles(dir, { "src/main.ts": MAIN, "src/steps.ts": STEPS });
    return dir;
  };

  it("rollup.watch picks up an edit that adds an error, then the fix", async () => {
    const dir = project();
    const q = queue<{ error?: string }>();
    const watcher: RollupWatcher = rollupWatch({
      input: join(dir, "src/main.ts"),
      external: ["stepwise"],
      plugins: [
        rollupStepwise({ root: dir }),
        { name: "ts", resolveId: (s, i) => (i && s.endsWith(".js") ? join(i, "..", s.replace(/\.js$/, ".ts")) : null) },
      ],
      output: { file: join(dir, "out/main.js"), format: "es" },
      watch: { buildDelay: 50 },
    });
    watcher.on("event", (e) => {
      if (e.code === "BUNDLE_END") void e.result.close().then(() => q.push({}));
      if (e.code === "ERROR") q.push({ error: e.error.message });
    });
    try {
      await editCycle(dir, () => readFileSync(join(dir, "out/main.js"), "utf8"), q.next);
    } finally {
      await watcher.close();
    }
  }, 180_000);

  it.each(["webpack", "rspack"] as const)("%s watch picks up an edit that adds an error, then the fix", async (tool) => {
    const dir = project();
    const q = queue<{ error?: string }>();
    const rule =
      tool === "rspack"
        ? { test: /\.ts$/, loader: "builtin:swc-loader", options: { jsc: { parser: { syntax: "typescript" } } }, type: "javascript/auto" }
        : { test: /\.ts$/, loader: join(REPO, "test/bundlers/strip-loader.mjs") };
    const config = {
      mode: "none", context: dir, target: "node", entry: "./src/main.ts", output: { path: join(dir, "out"), filename: "main.js" },
      resolve: { extensions: [".ts", ".js"], extensionAlias: { ".js": [".ts", ".js"] } },
      externals: { stepwise: "commonjs stepwise" }, module: { rules: [rule] },
      watchOptions: { aggregateTimeout: 50 },
    };
    const compiler = (tool === "rspack" ? rspack({ ...config, plugins: [rspackStepwise()] } as never) : webpack({ ...config, plugins: [webpackStepwise()] } as never)) as webpack.Compiler;
    const watching = compiler.watch({ aggregateTimeout: 50 }, (err, stats) => {
      const errors = stats?.toJson({ all: false, errors: true }).errors ?? [];
      q.push(err ? { error: err.message } : errors.length ? { error: errors.map((e) => e.message).join("\n") } : {});
    });
    try {
      await editCycle(dir, () => readFileSync(join(dir, "out/main.js"), "utf8"), q.next);
    } finally {
      await new Promise((r) => watching.close(r));
    }
  }, 180_000);
});
