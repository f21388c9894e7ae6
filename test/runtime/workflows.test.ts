import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  ConfigError,
  MaxStepRetriesError,
  NonRetryableError,
  Stepwise,
  StepTimeoutError,
  WorkflowConflictError,
  step,
  workflow,
} from "stepwise";
import { databases } from "../helpers/databases.js";
import { sql } from "../helpers/sql.js";

// Side effects of steps, counted per test key, so a test can prove what ran and what was replayed.
const calls = new Map<string, number>();
const count = (key: string) => calls.set(key, (calls.get(key) ?? 0) + 1);
const ran = (key: string) => calls.get(key) ?? 0;

const add = step(
  async (key: string, a: number, b: number) => {
    count(`add:${key}`);
    return a + b;
  },
  { name: "add" },
);

const delayed = step(
  async (key: string, label: string, ms: number) => {
    count(`delayed:${key}`);
    await new Promise((r) => setTimeout(r, ms));
    return label;
  },
  { name: "delayed" },
);

const sum = workflow(
  async (key: string, n: number) => {
    const a = await add(key, n, 1);
    const b = await add(key, a, 1);
    return { a, b };
  },
  { name: "sum" },
);

/** Three concurrent steps that finish in reverse order of their calls. */
const fanOut = workflow(
  async (key: string) => Promise.all([delayed(key, "slow", 60), delayed(key, "mid", 30), delayed(key, "fast", 0)]),
  { name: "fanOut" },
);

const other = workflow(async () => "other", { name: "other" });

const richValues = workflow(
  async () =>
    step(
      async () => ({
        when: new Date("2024-01-02T03:04:05Z"),
        map: new Map([["k", 1]]),
        set: new Set([1, 2]),
        big: 12345678901234567890n,
        nothing: undefined,
        re: /a+b/gi,
      }),
      { name: "richValues.make" },
    )(),
  { name: "richValues" },
);

class PaymentDeclined extends Error {
  override name = "PaymentDeclined";
  constructor(readonly code: string) {
    super(`payment declined: ${code}`);
  }
}
Stepwise.registerErrorClass(PaymentDeclined);

const decline = step(
  async (key: string) => {
    count(`decline:${key}`);
    throw new PaymentDeclined("insufficient_funds");
  },
  { name: "decline" },
);
const declineFlow = workflow(
  async (key: string) => {
    try {
      await decline(key);
      return "unreachable";
    } catch (error) {
      return { caughtClass: (error as Error).constructor.name, code: (error as PaymentDeclined).code };
    }
  },
  { name: "declineFlow" },
);
const failingFlow = workflow(
  async (key: string) => {
    await decline(key);
  },
  { name: "failingFlow" },
);

const flaky = step(
  async (key: string, failures: number) => {
    count(`flaky:${key}`);
    if (ran(`flaky:${key}`) <= failures) throw new Error(`flaky failure ${ran(`flaky:${key}`)}`);
    return `ok after ${ran(`flaky:${key}`)}`;
  },
  { name: "flaky", retriesAllowed: true, maxAttempts: 3, intervalSeconds: 0.05, backoffRate: 2 },
);
const flakyFlow = workflow(async (key: string, failures: number) => flaky(key, failures), { name: "flakyFlow" });

const contextFlow = workflow(
  async () => {
    const inner = await step(
      async () => ({
        workflowID: Stepwise.workflowID,
        stepID: Stepwise.stepID,
        attempt: Stepwise.stepStatus?.currentAttempt,
        maxAttempts: Stepwise.stepStatus?.maxAttempts,
        hasSignal: Stepwise.stepStatus?.signal instanceof AbortSignal,
      }),
      { name: "contextFlow.inner" },
    )();
    return { outer: Stepwise.workflowID, outerStep: Stepwise.stepID, inner };
  },
  { name: "contextFlow" },
);

const outerStep = step(
  async (key: string) => {
    const a = await add(key, 1, 1); // a step inside a step: part of the outer one
    return a * 10;
  },
  { name: "outerStep" },
);
const nestedFlow = workflow(async (key: string) => outerStep(key), { name: "nestedFlow" });

let divergent = false;
const divergentFlow = workflow(
  async (key: string) => {
    if (divergent) await delayed(key, "changed", 0);
    else await add(key, 1, 2);
    return "done";
  },
  { name: "divergentFlow" },
);

describe.each(databases)("workflows on $name", (database) => {
  let cleanup: () => Promise<void>;
  let options: { databaseUrl?: string; dataDir?: string };

  beforeAll(async () => {
    const created = await database.create();
    cleanup = created.cleanup;
    options = { databaseUrl: created.databaseUrl, dataDir: created.dataDir };
    await Stepwise.launch({ ...options, logLevel: "silent" });
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    await cleanup();
  });

  const key = (name: string) => `${database.name}:${name}:${Math.random().toString(36).slice(2)}`;

  test("calling a workflow runs it durably and records each step", async () => {
    const k = key("call");
    expect(await sum(k, 1)).toEqual({ a: 2, b: 3 });
    const [run] = await Stepwise.listWorkflows({ name: "sum", limit: 1 });
    expect(run!.status).toBe("SUCCESS");
    const steps = await Stepwise.listWorkflowSteps(run!.workflowID);
    expect(steps.map((s) => [s.functionID, s.stepID, s.output, s.attempts])).toEqual([
      [0, "add", 2, 1],
      [1, "add", 3, 1],
    ]);
    expect(steps[0]!.startedAt).toBeInstanceOf(Date);
    expect(steps[0]!.completedAt.getTime()).toBeGreaterThanOrEqual(steps[0]!.startedAt.getTime());
  });

  test("startWorkflow returns a handle; the same ID again runs nothing and returns the first result", async () => {
    const k = key("idem");
    const id = `order-${k}`;
    const handle = await Stepwise.startWorkflow(sum, { workflowID: id })(k, 10);
    expect(handle.workflowID).toBe(id);
    expect(await handle.getResult()).toEqual({ a: 11, b: 12 });
    expect((await handle.getStatus())!.status).toBe("SUCCESS");
    expect(ran(`add:${k}`)).toBe(2);

    const again = await Stepwise.startWorkflow(sum, { workflowID: id })(k, 99);
    expect(await again.getResult()).toEqual({ a: 11, b: 12 });
    expect(ran(`add:${k}`)).toBe(2);
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual({ a: 11, b: 12 });
    expect(await Stepwise.retrieveWorkflow(`missing-${k}`).getStatus()).toBeNull();
  });

  test("the same workflow ID with another workflow is a WorkflowConflictError", async () => {
    const id = `conflict-${key("c")}`;
    await (await Stepwise.startWorkflow(other, { workflowID: id })()).getResult();
    await expect(Stepwise.startWorkflow(sum, { workflowID: id })("x", 1)).rejects.toBeInstanceOf(WorkflowConflictError);
  });

  test("function IDs follow call order, not completion order, and replay identically", async () => {
    const k = key("fan");
    const id = `fan-${k}`;
    const handle = await Stepwise.startWorkflow(fanOut, { workflowID: id })(k);
    expect(await handle.getResult()).toEqual(["slow", "mid", "fast"]);
    const steps = await Stepwise.listWorkflowSteps(id);
    expect(steps.map((s) => [s.functionID, s.output])).toEqual([
      [0, "slow"],
      [1, "mid"],
      [2, "fast"],
    ]);
    // Completion order was fast, mid, slow:
    expect(steps[2]!.completedAt.getTime()).toBeLessThanOrEqual(steps[0]!.completedAt.getTime());

    // Replay the run from its records: nothing runs again and the result is the same.
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    const before = ran(`delayed:${k}`);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual(["slow", "mid", "fast"]);
    expect(ran(`delayed:${k}`)).toBe(before);
  });

  test("recovery resumes from the last recorded step: completed steps do not run again", async () => {
    const k = key("resume");
    const id = `resume-${k}`;
    await (await Stepwise.startWorkflow(sum, { workflowID: id })(k, 5)).getResult();
    // As if the process had died after the first step: the second step's record and the end are gone.
    await sql(`DELETE FROM stepwise.operation_outputs WHERE workflow_id = $1 AND function_id = 1`, [id]);
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    expect(ran(`add:${k}`)).toBe(2);
    const handles = await Stepwise.recoverPendingWorkflows();
    expect(handles.map((h) => h.workflowID)).toContain(id);
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual({ a: 6, b: 7 });
    expect(ran(`add:${k}`)).toBe(3);
    const status = await Stepwise.getWorkflowStatus(id);
    expect(status!.recoveryAttempts).toBe(1);
  });

  test("the first run sees exactly what a replay sees: values round-trip through the serializer", async () => {
    const value = await richValues();
    expect(value.when).toEqual(new Date("2024-01-02T03:04:05Z"));
    expect(value.map).toEqual(new Map([["k", 1]]));
    expect(value.set).toEqual(new Set([1, 2]));
    expect(value.big).toBe(12345678901234567890n);
    expect("nothing" in value && value.nothing === undefined).toBe(true);
    expect(value.re).toEqual(/a+b/gi);
  });

  test("a failed step's error is checkpointed and comes back as its own class without running again", async () => {
    const k = key("decline");
    const id = `decline-${k}`;
    const result = await (await Stepwise.startWorkflow(declineFlow, { workflowID: id })(k)).getResult();
    expect(result).toEqual({ caughtClass: "PaymentDeclined", code: "insufficient_funds" });
    const [recorded] = await Stepwise.listWorkflowSteps(id);
    expect(recorded!.error).toBeInstanceOf(PaymentDeclined);
    expect((recorded!.error as PaymentDeclined).code).toBe("insufficient_funds");

    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toEqual({ caughtClass: "PaymentDeclined", code: "insufficient_funds" });
    expect(ran(`decline:${k}`)).toBe(1);
  });

  test("a workflow that throws ends in ERROR and its handle rethrows the same class", async () => {
    const k = key("fail");
    const id = `fail-${k}`;
    const handle = await Stepwise.startWorkflow(failingFlow, { workflowID: id })(k);
    const error = await handle.getResult().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaymentDeclined);
    expect((error as PaymentDeclined).code).toBe("insufficient_funds");
    expect((await handle.getStatus())!.status).toBe("ERROR");
    // From the database alone, as another process would see it:
    const fromDb = await sql<{ error: string }>(`SELECT error FROM stepwise.workflow_status WHERE workflow_id = $1`, [id]);
    expect(fromDb[0]!.error).toContain("PaymentDeclined");
  });

  test("retries: a flaky step succeeds on its third attempt and records the attempts", async () => {
    const k = key("flaky");
    const id = `flaky-${k}`;
    const started = Date.now();
    expect(await (await Stepwise.startWorkflow(flakyFlow, { workflowID: id })(k, 2)).getResult()).toBe("ok after 3");
    // Backoff 0.05s then 0.1s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const [recorded] = await Stepwise.listWorkflowSteps(id);
    expect(recorded!.attempts).toBe(3);
  });

  test("retries: running out of attempts is a MaxStepRetriesError carrying every attempt's error", async () => {
    const k = key("exhaust");
    const id = `exhaust-${k}`;
    const error = await (await Stepwise.startWorkflow(flakyFlow, { workflowID: id })(k, 5)).getResult().catch((e) => e);
    expect(error).toBeInstanceOf(MaxStepRetriesError);
    expect((error as MaxStepRetriesError).errors.map((e) => (e as Error).message)).toEqual([
      "flaky failure 1",
      "flaky failure 2",
      "flaky failure 3",
    ]);
    expect(ran(`flaky:${k}`)).toBe(3);
    const [recorded] = await Stepwise.listWorkflowSteps(id);
    expect(recorded!.error).toBeInstanceOf(MaxStepRetriesError);
    expect(recorded!.attempts).toBe(3);
  });

  test("context: workflow ID, step ID and step status are visible where they apply", async () => {
    const id = `ctx-${key("ctx")}`;
    const result = await (await Stepwise.startWorkflow(contextFlow, { workflowID: id })()).getResult();
    expect(result).toEqual({
      outer: id,
      outerStep: undefined,
      inner: { workflowID: id, stepID: "contextFlow.inner", attempt: 1, maxAttempts: 1, hasSignal: true },
    });
    expect(Stepwise.workflowID).toBeUndefined();
  });

  test("a step called inside a step is part of the outer step: one record", async () => {
    const k = key("nested");
    const id = `nested-${k}`;
    expect(await (await Stepwise.startWorkflow(nestedFlow, { workflowID: id })(k)).getResult()).toBe(20);
    const steps = await Stepwise.listWorkflowSteps(id);
    expect(steps.map((s) => s.stepID)).toEqual(["outerStep"]);
  });

  test("another executor's record at the same function ID wins: this run adopts its output", async () => {
    const k = key("race");
    const id = `race-${k}`;
    const racing = workflow(
      async () =>
        step(
          async () => {
            // While this step runs, another executor records the same operation.
            await sql(
              `INSERT INTO stepwise.operation_outputs (workflow_id, function_id, step_id, output, attempts, started_at, completed_at)
               VALUES ($1, 0, 'race.step', $2, 1, 0, 0)`,
              [id, JSON.stringify({ json: "theirs" })],
            );
            return "ours";
          },
          { name: "race.step" },
        )(),
      { name: `racing-${k}` },
    );
    expect(await (await Stepwise.startWorkflow(racing, { workflowID: id })()).getResult()).toBe("theirs");
  });

  test("a changed workflow is a NonDeterminismError; the run stays PENDING and finishes once the code is fixed", async () => {
    const k = key("nondet");
    const id = `nondet-${k}`;
    await (await Stepwise.startWorkflow(divergentFlow, { workflowID: id })(k)).getResult();
    await sql(`UPDATE stepwise.workflow_status SET status = 'PENDING', output = NULL WHERE workflow_id = $1`, [id]);

    divergent = true;
    await Stepwise.recoverPendingWorkflows();
    const error = await Stepwise.retrieveWorkflow(id).getResult().catch((e) => e);
    expect(error.name).toBe("NonDeterminismError");
    expect(error.message).toContain(id);
    expect(error.message).toContain("function ID 0");
    expect(error.message).toContain("'add'");
    expect(error.message).toContain("'delayed'");
    const parked = await Stepwise.getWorkflowStatus(id);
    expect(parked!.status).toBe("PENDING");
    expect(parked!.recoveryError).toContain("NonDeterminismError");

    divergent = false;
    await Stepwise.recoverPendingWorkflows();
    expect(await Stepwise.retrieveWorkflow(id).getResult()).toBe("done");
    expect((await Stepwise.getWorkflowStatus(id))!.status).toBe("SUCCESS");
  });

  test("a recorded run whose workflow is not registered stays PENDING with an error naming it", async () => {
    const id = `ghost-${key("ghost")}`;
    await sql(
      `INSERT INTO stepwise.workflow_status (workflow_id, name, status, inputs, executor_id, created_at, updated_at)
       VALUES ($1, 'ghostWorkflow', 'PENDING', $2, 'local', 0, 0)`,
      [id, JSON.stringify({ json: [] })],
    );
    await Stepwise.recoverPendingWorkflows();
    const status = await Stepwise.getWorkflowStatus(id);
    expect(status!.status).toBe("PENDING");
    expect(status!.recoveryError).toContain("'ghostWorkflow'");
    expect(status!.recoveryError).toContain("no workflow of that name is registered");
    await sql(`DELETE FROM stepwise.workflow_status WHERE workflow_id = $1`, [id]);
  });

  test("a step with a timeout aborts its signal and fails the attempt", async () => {
    let aborted = false;
    const slow = step(
      async () => {
        Stepwise.stepStatus!.signal.addEventListener("abort", () => (aborted = true));
        await new Promise((r) => setTimeout(r, 500));
        return "late";
      },
      { name: `slow-${key("t")}`, timeoutMS: 50 },
    );
    const flow = workflow(async () => slow(), { name: `timeoutFlow-${key("t")}` });
    const error = await flow().catch((e) => e);
    expect(error).toBeInstanceOf(StepTimeoutError);
    expect(aborted).toBe(true);
  });
});

describe("steps outside a workflow", () => {
  test("run with their retries and no checkpoint", async () => {
    let n = 0;
    const s = step(
      async () => {
        if (++n < 2) throw new Error("once");
        return n;
      },
      { name: "outside", retriesAllowed: true, intervalSeconds: 0.01 },
    );
    expect(await s()).toBe(2);
  });

  test("NonRetryableError stops retrying at once", async () => {
    let n = 0;
    const s = step(
      async () => {
        n++;
        throw new NonRetryableError("card is invalid");
      },
      { name: "nonRetryable", retriesAllowed: true, maxAttempts: 5, intervalSeconds: 0.01 },
    );
    await expect(s()).rejects.toBeInstanceOf(NonRetryableError);
    expect(n).toBe(1);
  });

  test("without retriesAllowed a failure is thrown as it is after one attempt", async () => {
    let n = 0;
    const s = step(
      async () => {
        n++;
        throw new TypeError("bad");
      },
      { name: "noRetries" },
    );
    await expect(s()).rejects.toBeInstanceOf(TypeError);
    expect(n).toBe(1);
  });

  test("no sleep after the last attempt", async () => {
    const s = step(
      async () => {
        throw new Error("always");
      },
      { name: "lastAttempt", retriesAllowed: true, maxAttempts: 2, intervalSeconds: 0.3 },
    );
    const started = Date.now();
    await expect(s()).rejects.toBeInstanceOf(MaxStepRetriesError);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(550);
  });

  test("maxIntervalSeconds caps the backoff", async () => {
    const s = step(
      async () => {
        throw new Error("always");
      },
      { name: "capped", retriesAllowed: true, maxAttempts: 4, intervalSeconds: 0.1, backoffRate: 10, maxIntervalSeconds: 0.15 },
    );
    const started = Date.now();
    await expect(s()).rejects.toBeInstanceOf(MaxStepRetriesError);
    // 0.1 + 0.15 + 0.15 instead of 0.1 + 1 + 10.
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("config is checked at definition time", () => {
  const fn = async () => 1;
  test.each([
    [{ name: "a", maxAttempts: -1 }, "maxAttempts' must be at least 1"],
    [{ name: "a", backoffRate: 0.5 }, "backoffRate' must be at least 1"],
    [{ name: "a", retriesAlowed: true }, "did you mean 'retriesAllowed'"],
    [{ name: "a", intervalSeconds: "1" }, "must be a number"],
    [{}, "needs { name"],
  ])("step config %j", (config, message) => {
    expect(() => step(fn, config as never)).toThrow(ConfigError);
    expect(() => step(fn, config as never)).toThrow(message);
  });

  test("a workflow needs a name without the compiler", () => {
    expect(() => workflow(fn)).toThrow(/needs \{ name/);
  });

  test("a workflow call before launch says to launch", async () => {
    const wf = workflow(async () => 1, { name: "beforeLaunch" });
    await expect(wf()).rejects.toThrow(/Stepwise.launch\(\)/);
  });
});

describe("Stepwise.logger", () => {
  test("goes to the launch logger, prefixed with the workflow ID inside a workflow", async () => {
    const lines: string[] = [];
    const record = (m: string) => lines.push(m);
    await Stepwise.launch({ dataDir: "memory://", logger: { debug: record, info: record, warn: record, error: record } });
    try {
      const logging = workflow(
        async () => {
          Stepwise.logger.info("charging the card");
          await step(async () => Stepwise.logger.warn("inside the step"), { name: "logging.step" })();
        },
        { name: "logging" },
      );
      await (await Stepwise.startWorkflow(logging, { workflowID: "log-run" })()).getResult();
      Stepwise.logger.info("outside");
      expect(lines).toContain("[log-run] charging the card");
      expect(lines).toContain("[log-run] inside the step");
      expect(lines).toContain("outside");
    } finally {
      await Stepwise.shutdown();
    }
  });
});
