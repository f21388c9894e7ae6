/**
 * The dashboard under hostile or heavy requests: asset names that are Object.prototype
 * keys, function IDs beyond Postgres's integer, and a run whose result is megabytes.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stepwise, step, workflow } from "stepwise";
import { startDashboard, type Dashboard } from "../../runtime/dashboard/server.js";
import type { RunResponse } from "../../runtime/dashboard/types.js";
import { databases } from "../helpers/databases.js";

const BLOB = 400_000;
const makeBig = step(async () => ({ blob: "x".repeat(BLOB), rows: Array.from({ length: 2000 }, (_, i) => ({ i })) }), { name: "hardening.makeBig" });
const big = workflow(async () => makeBig(), { name: "hardening.big" });

describe.each(databases)("dashboard hardening on $name", (database) => {
  let target: Awaited<ReturnType<typeof database.create>>;
  let dashboard: Dashboard;
  let base: string;

  beforeAll(async () => {
    target = await database.create();
    await Stepwise.launch({ ...target, logLevel: "silent" });
    dashboard = await startDashboard({ port: 0 });
    base = `http://127.0.0.1:${dashboard.port}`;
    await (await Stepwise.startWorkflow(big, { workflowID: "big-1" })()).getResult();
  }, 180_000);
  afterAll(async () => {
    await dashboard?.close();
    await Stepwise.shutdown();
    await target?.cleanup();
  });

  test("asset names that are Object.prototype keys are 404, with no path in the answer", async () => {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const res = await fetch(`${base}/assets/${name}`);
      expect(res.status, name).toBe(404);
      const body = await res.text();
      expect(body, name).not.toContain(process.cwd());
      expect(body, name).not.toMatch(/ENOENT|\/dist\//);
    }
  });

  test("a function ID beyond an integer is a 400 naming the parameter, not a database error", async () => {
    for (const after of ["1e20", "2147483648", "99999999999999"]) {
      const res = await fetch(`${base}/api/workflows/big-1?after=${after}`);
      expect(res.status, after).toBe(400);
      expect((await res.json()).error, after).toMatch(/^after must be a function ID/);
    }
    expect((await fetch(`${base}/api/workflows/big-1?after=2147483647`)).status).toBe(200);
  });

  test("a large value is shown as the start of its stored form with a download of all of it", async () => {
    const res = await fetch(`${base}/api/workflows/big-1`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as RunResponse;
    for (const shown of [body.run.result!, body.steps[0]!.output!]) {
      expect(shown.truncated).toBe(true);
      expect(shown.storedBytes).toBeGreaterThan(BLOB);
      expect(shown.text.length).toBeLessThan(25_000);
      expect(shown.download).toBeDefined();
    }
    const download = await fetch(`${base}${body.run.result!.download}`);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-disposition")).toContain("attachment");
    const stored = JSON.parse(await download.text());
    expect(stored.json.blob).toHaveLength(BLOB);
    const stepDownload = await fetch(`${base}${body.steps[0]!.output!.download}`);
    expect(JSON.parse(await stepDownload.text()).json.rows).toHaveLength(2000);
    expect((await fetch(`${base}/api/workflows/big-1/steps/99/output`)).status).toBe(404);
    expect((await fetch(`${base}/api/workflows/big-1/steps/1e20/output`)).status).toBe(400);
  });
});
