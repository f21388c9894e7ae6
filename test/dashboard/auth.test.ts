/**
 * Who may use the dashboard: off loopback it refuses to start without a token and
 * answers 401 to every request without it; on loopback it answers only requests
 * addressed to loopback; actions need a JSON body from its own origin.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConfigError, Stepwise, workflow } from "stepwise";
import { startDashboard, type Dashboard } from "../../runtime/dashboard/server.js";
import { tempDir } from "../helpers/databases.js";

const TOKEN = "correct-horse-battery";
const hello = workflow(async (who: string) => `hello ${who}`, { name: "hello" });
const dir = tempDir("stepwise-dashboard-auth-");
const cliDir = tempDir("stepwise-dashboard-cli-");

describe("dashboard access", () => {
  let open: Dashboard;
  let guarded: Dashboard;

  beforeAll(async () => {
    delete process.env.STEPWISE_UI_TOKEN;
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
    await hello("world");
    open = await startDashboard({ port: 0 });
    guarded = await startDashboard({ host: "0.0.0.0", port: 0, token: TOKEN });
  });
  afterAll(async () => {
    await open?.close();
    await guarded?.close();
    await Stepwise.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(cliDir, { recursive: true, force: true });
  });

  test("bound off loopback, it will not start without a token", async () => {
    await expect(startDashboard({ host: "0.0.0.0", port: 0 })).rejects.toThrow(ConfigError);
    await expect(startDashboard({ host: "0.0.0.0", port: 0 })).rejects.toThrow(/give it a token/);
  });

  test("bound to 0.0.0.0, a request without the token gets 401, with it the answer", async () => {
    const base = `http://127.0.0.1:${guarded.port}`;
    for (const path of ["/api/workflows", "/", "/workflows/x", "/assets/app.js"]) {
      expect((await fetch(`${base}${path}`, { redirect: "manual" })).status, path).toBe(401);
    }
    expect((await fetch(`${base}/api/workflows`, { headers: { Authorization: "Bearer wrong-token-here" } })).status).toBe(401);
    expect((await fetch(`${base}/api/workflows`, { headers: { Cookie: "stepwise_token=wrong-token-here" } })).status).toBe(401);
    const denied = await fetch(`${base}/api/workflows/x/cancel`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(denied.status).toBe(401);

    const ok = await fetch(`${base}/api/workflows`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body.runs.map((r: { name: string }) => r.name)).toEqual(["hello"]);

    // Opening the page with ?token= trades it for a cookie and takes it out of the address.
    const entry = await fetch(`${base}/workflows/abc?token=${TOKEN}`, { redirect: "manual" });
    expect(entry.status).toBe(303);
    expect(entry.headers.get("location")).toBe("/workflows/abc");
    const cookie = entry.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^stepwise_token=correct-horse-battery; HttpOnly; SameSite=Strict/);
    const page = await fetch(`${base}/workflows/abc`, { headers: { Cookie: cookie.split(";")[0]! } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/assets/app.js">');
    // The URL it reports (logged, printed) never carries the token.
    expect(guarded.url).toBe(`http://127.0.0.1:${guarded.port}/`);
    expect(guarded.needsToken).toBe(true);
  });

  test("bound to loopback without a token, it answers only requests addressed to loopback", async () => {
    const base = `http://127.0.0.1:${open.port}`;
    expect((await fetch(`${base}/api/workflows`)).status).toBe(200);
    expect((await fetch(`http://localhost:${open.port}/`)).status).toBe(200);
    // A page that rebinds its own hostname to 127.0.0.1 still sends its own Host.
    const rebound = await new Promise<number>((resolve, reject) => {
      import("node:http").then(({ request }) =>
        request({ host: "127.0.0.1", port: open.port, path: "/api/workflows", headers: { Host: `attacker.example:${open.port}` } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
          .on("error", reject)
          .end(),
      );
    });
    expect(rebound).toBe(403);
  });

  test("actions take a JSON body from the dashboard's own origin", async () => {
    const base = `http://127.0.0.1:${open.port}`;
    const [run] = await Stepwise.listWorkflows({ name: "hello" });
    const url = `${base}/api/workflows/${run!.workflowID}/cancel`;
    // What a form on another site could send without a preflight.
    expect((await fetch(url, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "{}" })).status).toBe(415);
    expect((await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", Origin: "http://attacker.example" }, body: "{}" })).status).toBe(403);
    const ended = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(ended.status).toBe(409);
    expect((await ended.json()).error).toMatch(/already ended \(SUCCESS\)/);
    expect((await fetch(`${base}/api/workflows/nope`)).status).toBe(404);
    expect((await fetch(`${base}/api/workflows/%E0%A4%A`)).status).toBe(400);
    expect((await fetch(`${base}/api/workflows?status=DONE`)).status).toBe(400);
  });

  test("launch({ dashboard }) on a port in use fails, and leaves Stepwise shut down", async () => {
    await Stepwise.shutdown();
    await expect(Stepwise.launch({ dataDir: dir, logLevel: "silent", dashboard: { port: open.port } })).rejects.toThrow(/port is in use/);
    // Nothing was left half-launched: a new launch works.
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
    expect((await Stepwise.listWorkflows()).length).toBe(1);
  });

  test("`stepwise ui`: refuses 0.0.0.0 without a token, serves it with one", async () => {
    const cli = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));
    const env = { ...process.env, STEPWISE_DATABASE_URL: "", STEPWISE_UI_TOKEN: "" };
    // The CLI opens an existing embedded database only: create one (empty) in cliDir.
    const { openPGlite } = await import("../../runtime/sysdb/pglite.js");
    await (await openPGlite(cliDir)).close();
    const refused = spawn(process.execPath, ["--import", "tsx", cli, "--data-dir", cliDir, "ui", "--host", "0.0.0.0", "--port", "0"], { env });
    let refusal = "";
    refused.stderr.on("data", (chunk) => (refusal += chunk));
    expect(await new Promise((resolve) => refused.on("exit", resolve))).toBe(1);
    expect(refusal).toMatch(/give it a token \(--token, env STEPWISE_UI_TOKEN/);

    const served = spawn(process.execPath, ["--import", "tsx", cli, "--data-dir", cliDir, "ui", "--host", "0.0.0.0", "--port", "0"], {
      env: { ...env, STEPWISE_UI_TOKEN: TOKEN },
    });
    try {
      let printed = "";
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        served.stdout.on("data", (chunk) => {
          out += chunk;
          printed = out;
          const match = /on (http:\S+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        served.on("exit", (code) => reject(new Error(`stepwise ui exited with ${code}`)));
      });
      const { port } = new URL(url);
      expect(url).not.toContain(TOKEN);
      await new Promise((r) => setTimeout(r, 100));
      expect(printed).not.toContain(TOKEN);
      expect(printed).toContain("STEPWISE_UI_TOKEN");
      expect((await fetch(`http://127.0.0.1:${port}/api/workflows`)).status).toBe(401);
      const ok = await fetch(`http://127.0.0.1:${port}/api/workflows`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect((await ok.json()).runs).toEqual([]);
    } finally {
      served.kill("SIGTERM");
      await new Promise((resolve) => served.on("exit", resolve));
    }
  });
});
