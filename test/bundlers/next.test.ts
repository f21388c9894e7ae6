/**
 * examples/next-app, built with `next build` as a user builds it: Turbopack (Next 16's
 * default) through withStepwise's loader rule, then served by `next start`, where a route
 * handler runs the workflow with the workers in the server process; and `next build
 * --webpack` (compile only, the lean mode) through the webpack plugin, whose manifest is
 * the esbuild plugin's for the same sources.
 *
 * The app is copied under dist/ with stepwise installed into its node_modules as npm would
 * (package.json and the built dist/runtime and dist/transformer): Turbopack compiles no file
 * outside the project root, and treats a package as external only from node_modules.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { stepwise } from "../../transformer/esbuild.js";
import { mustSucceed, REPO, sh } from "./harness.js";

const NEXT = join(REPO, "node_modules/next/dist/bin/next");
const ENV = { NEXT_TELEMETRY_DISABLED: "1", STEPWISE_LOG_LEVEL: "error" };

function appCopy(name: string): string {
  const dir = join(REPO, "dist", name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(REPO, "examples/next-app"), dir, { recursive: true, filter: (f) => !/[\\/](\.next|node_modules|\.stepwise)$/.test(f) });
  const pkg = join(dir, "node_modules/stepwise");
  mkdirSync(join(pkg, "dist"), { recursive: true });
  cpSync(join(REPO, "package.json"), join(pkg, "package.json"));
  for (const d of ["runtime", "transformer"]) cpSync(join(REPO, "dist", d), join(pkg, "dist", d), { recursive: true });
  return dir;
}

function serverChunks(dir: string): string {
  const root = join(dir, ".next/server");
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((f) => f.endsWith(".js"))
    .map((f) => readFileSync(join(root, f), "utf8"))
    .join("\n");
}

const dirs: string[] = [];
afterAll(() => {
  if (!process.env.KEEP_E2E) for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("next build (Turbopack) and next start", () => {
  let dir: string;
  beforeAll(() => {
    dir = appCopy("next-app-turbopack");
    dirs.push(dir);
    const t = Date.now();
    mustSucceed(sh(process.execPath, [NEXT, "build"], dir, ENV), "next build");
    console.log(`next build (Turbopack): ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }, 660_000);

  it("compiles the tags into the server bundle with their IDs", () => {
    const code = serverChunks(dir);
    for (const id of ["reserveStock", "Payments.charge", "sendReceipt", "fulfil"]) expect(code).toMatch(new RegExp(`name:\\s*["'\`]${id.replace(".", "\\.")}["'\`]`));
  });

  it("a route handler runs the workflow durably in the server process", async () => {
    const child = spawn(process.execPath, [NEXT, "start", "-p", "0"], { cwd: dir, env: { ...process.env, ...ENV }, stdio: ["ignore", "pipe", "pipe"] });
    try {
      let output = "";
      child.stderr.on("data", (d) => (output += d));
      const base = await new Promise<string>((res, rej) => {
        child.stdout.on("data", (d) => {
          output += d;
          const m = /Local:\s+(http:\/\/\S+)/.exec(output);
          if (m) res(m[1]!);
        });
        child.on("exit", () => rej(new Error(`next start exited:\n${output}`)));
      });
      const first = await fetch(`${base}/api/orders/nx-1?sku=sku-9&qty=2`, { method: "POST" });
      const body = await first.text();
      expect(first.status, `${body}\n${output}`).toBe(200);
      const result = { orderId: "nx-1", reservation: "res-sku-9-2", chargeId: "ch_nx-1", cents: 3998, receipt: "receipt-nx-1-ch_nx-1" };
      expect(JSON.parse(body)).toEqual(result);
      // The order ID is an idempotency key: the recorded result, nothing run again.
      const again = await fetch(`${base}/api/orders/nx-1?sku=sku-9&qty=2`, { method: "POST" });
      expect(await again.json()).toEqual(result);
      expect(await (await fetch(`${base}/api/orders/nx-1`)).json()).toEqual({ status: "SUCCESS", steps: ["reserveStock", "Payments.charge", "sendReceipt"] });
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    }
  }, 300_000);
});

describe("next build --webpack", () => {
  let dir: string;
  beforeAll(() => {
    dir = appCopy("next-app-webpack");
    dirs.push(dir);
    const t = Date.now();
    mustSucceed(sh(process.execPath, [NEXT, "build", "--webpack", "--experimental-build-mode=compile"], dir, ENV), "next build --webpack");
    console.log(`next build --webpack (compile): ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }, 660_000);

  it("compiles the tags in, and writes the manifest the esbuild plugin writes for the same sources", async () => {
    expect(serverChunks(dir)).toMatch(/name:\s*["'`]Payments\.charge["'`]/);
    await esbuild.build({
      absWorkingDir: dir, entryPoints: ["lib/orders.ts"], bundle: true, write: false, format: "esm", platform: "node",
      external: ["stepwise"], logLevel: "silent", plugins: [stepwise({ manifest: "esbuild.manifest.json" })],
    });
    const manifest = readFileSync(join(dir, "stepwise.manifest.json"), "utf8");
    expect(JSON.parse(manifest).operations.map((o: { id: string }) => o.id)).toEqual(["Payments.charge", "fulfil", "reserveStock", "sendReceipt"]);
    expect(manifest).toBe(readFileSync(join(dir, "esbuild.manifest.json"), "utf8"));
  });
});
