/**
 * The dashboard's JSON API on each test database: what a run's page is made of (steps
 * with their kinds, values as readable text, errors with fields, the inbox, events),
 * paging, and that inputs appear only at their own endpoint.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MaxStepRetriesError, Stepwise, step, workflow } from "stepwise";
import { startDashboard, type Dashboard } from "../../runtime/dashboard/server.js";
import type { ListResponse, RunResponse } from "../../runtime/dashboard/types.js";
import { databases } from "../helpers/databases.js";

let tries = 0;
const flaky = step(
  async () => {
    tries++;
    throw new RangeError(`attempt ${tries} out of range`);
  },
  { name: "flaky", retriesAllowed: true, maxAttempts: 2, intervalSeconds: 0 },
);
const measure = step(async () => ({ at: new Date("2026-01-02T03:04:05Z"), tags: new Set(["a"]), big: 12n, none: undefined }), { name: "measure" });
const child = workflow(async (n: number) => n * 2, { name: "child" });
const parent = workflow(
  async (secret: string) => {
    await measure();
    await Stepwise.setEvent("phase", { step: 2 });
    const doubled = await child(21);
    await Stepwise.send(Stepwise.workflowID!, "to myself", "later");
    try {
      await flaky();
    } catch (error) {
      if (!(error instanceof MaxStepRetriesError)) throw error;
    }
    return { doubled, secretLength: secret.length };
  },
  { name: "parent" },
);

for (const db of databases) {
  describe(`dashboard API on ${db.name}`, () => {
    let target: Awaited<ReturnType<typeof db.create>>;
    let dashboard: Dashboard;
    let base: string;
    const get = async <T>(path: string) => {
      const res = await fetch(`${base}${path}`);
      return { status: res.status, body: (await res.json()) as T };
    };

    beforeAll(async () => {
      tries = 0;
      target = await db.create();
      await Stepwise.launch({ ...target, logLevel: "silent" });
      dashboard = await startDashboard({ port: 0 });
      base = `http://127.0.0.1:${dashboard.port}`;
      await Stepwise.startWorkflow(parent, { workflowID: "p-1" })("hunter2").then((h) => h.getResult());
    });
    afterAll(async () => {
      await dashboard?.close();
      await Stepwise.shutdown();
      await target?.cleanup();
    });

    test("a run: its steps by kind, readable values, errors with their fields, inbox and events", async () => {
      const { status, body } = await get<RunResponse>("/api/workflows/p-1");
      expect(status).toBe(200);
      expect(body.run).toMatchObject({ workflowID: "p-1", name: "parent", status: "SUCCESS", queueName: null, error: null });
      expect(body.run.result?.text).toBe("{\n  doubled: 42,\n  secretLength: 7\n}");
      expect(body.steps.map((s) => [s.functionID, s.stepID, s.kind])).toEqual([
        [0, "measure", "step"],
        [1, "Stepwise.setEvent", "setEvent"],
        [2, "child", "child"],
        [3, "Stepwise.send", "send"],
        [4, "flaky", "step"],
      ]);
      expect(body.steps[0]!.output?.text).toBe('{\n  at: Date(2026-01-02T03:04:05.000Z),\n  tags: Set(1) {\n    "a"\n  },\n  big: 12n,\n  none: undefined\n}');
      expect(body.steps[2]!.childWorkflowID).toBe("p-1-2");
      const failed = body.steps[4]!;
      expect(failed.attempts).toBe(2);
      expect(failed.error).toMatchObject({ name: "MaxStepRetriesError" });
      expect(failed.error!.fields).toContain("RangeError: attempt 2 out of range");
      expect(failed.error!.stack).toContain("MaxStepRetriesError");
      expect(body.inbox).toEqual([expect.objectContaining({ topic: "later", message: { text: '"to myself"' } })]);
      expect(body.events).toEqual([expect.objectContaining({ key: "phase", value: { text: "{\n  step: 2\n}" } })]);
      for (const s of body.steps) expect(s.completedAt).toBeGreaterThanOrEqual(s.startedAt);
    });

    test("?after=<functionID> sends only the steps after it (a live page's poll); a bad value is a 400", async () => {
      const { body } = await get<RunResponse>("/api/workflows/p-1?after=2");
      expect(body.steps.map((s) => s.functionID)).toEqual([3, 4]);
      expect(body.run.workflowID).toBe("p-1");
      expect((await get<RunResponse>("/api/workflows/p-1?after=-1")).body.steps).toHaveLength(5);
      expect((await get<RunResponse>("/api/workflows/p-1?after=4")).body.steps).toEqual([]);
      for (const bad of ["x", "1.5", "-2"]) {
        const res = await get<{ error: string }>(`/api/workflows/p-1?after=${bad}`);
        expect(res.status).toBe(400);
        expect(res.body.error).toContain("after must be a function ID");
      }
    });

    test("inputs only at their own endpoint", async () => {
      const run = await fetch(`${base}/api/workflows/p-1`).then((r) => r.text());
      const list = await fetch(`${base}/api/workflows`).then((r) => r.text());
      expect(run + list).not.toContain("hunter2");
      expect((await get<{ inputs: { text: string } }>("/api/workflows/p-1/inputs")).body.inputs.text).toBe('[\n  "hunter2"\n]');
    });

    test("the list: pages, filters, names on request", async () => {
      const all = await get<ListResponse>("/api/workflows?limit=1&names=1");
      expect(all.body.runs.map((r) => r.workflowID)).toEqual(["p-1-2"]);
      expect(all.body.hasMore).toBe(true);
      expect(all.body.names).toEqual(["child", "parent"]);
      const next = await get<ListResponse>("/api/workflows?limit=1&offset=1");
      expect(next.body.runs.map((r) => r.workflowID)).toEqual(["p-1"]);
      expect(next.body.hasMore).toBe(false);
      expect(next.body.names).toBeUndefined();
      expect(next.body.runs[0]!.durationMs).toBeGreaterThanOrEqual(0);
      expect((await get<ListResponse>("/api/workflows?name=child")).body.runs.map((r) => r.name)).toEqual(["child"]);
      expect((await get<ListResponse>("/api/workflows?status=ERROR")).body.runs).toEqual([]);
      expect((await get<{ error: string }>("/api/workflows?limit=0")).status).toBe(400);
    });
  });
}
