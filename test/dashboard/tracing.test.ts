/**
 * OpenTelemetry: with the app's tracer provider registered (an in-memory exporter
 * here), a workflow is a span and each step attempt a child span, with the IDs, the
 * attempt and its outcome. Stepwise registers no provider of its own.
 */
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NonRetryableError, Stepwise, step, transaction, workflow } from "stepwise";
import { tempDir } from "../helpers/databases.js";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let reserveCalls = 0;
const reserve = step(
  async (sku: string) => {
    if (++reserveCalls === 1) throw new Error("warehouse busy");
    return `held ${sku}`;
  },
  { name: "reserve", retriesAllowed: true, maxAttempts: 3, intervalSeconds: 0.01 },
);
const charge = step(async (cents: number) => ({ chargeId: `ch_${cents}` }), { name: "charge" });
const checkout = workflow(
  async (orderId: string) => {
    const held = await reserve("sku-1");
    const { chargeId } = await charge(1999);
    return { orderId, held, chargeId };
  },
  { name: "checkout" },
);
const decline = step(async () => {
  throw new NonRetryableError("card declined");
}, { name: "decline" });
const declined = workflow(async () => decline(), { name: "declined" });
// A step that makes a span of its own, as an instrumented HTTP client would.
const lookup = step(
  async (sku: string) => trace.getTracer("app").startActiveSpan("GET /stock", async (span) => {
    span.end();
    return `${sku}: 3 left`;
  }),
  { name: "lookup" },
);
const lookupWorkflow = workflow(async (sku: string) => lookup(sku), { name: "lookupWorkflow" });

// A transaction, and each messaging operation: send, setEvent, recv (one delivered, one timed
// out), getEvent and a durable sleep.
const tally = transaction(async () => (await Stepwise.sql.query<{ n: number }>("SELECT 41 + 1 AS n")).rows[0]!.n, { name: "tally" });
const talker = workflow(
  async () => {
    const n = await tally();
    await Stepwise.send(Stepwise.workflowID, { n }, "self");
    await Stepwise.setEvent("progress", "half");
    const got = await Stepwise.recv<{ n: number }>("self", 5);
    const none = await Stepwise.recv("never", 0.05);
    const progress = await Stepwise.getEvent<string>(Stepwise.workflowID, "progress", 1);
    // No wait left once the wake-up time is recorded: still a sleep executed now, so still a span.
    await Stepwise.sleep(0);
    return { got, none, progress };
  },
  { name: "talker" },
);

const dir = tempDir("stepwise-tracing-");

const byStart = (a: ReadableSpan, b: ReadableSpan) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1];

/** The finished spans as a workflow span and its step spans in (function ID, attempt) order: starts can share a clock tick. */
function finished(): ReadableSpan[] {
  const spans = exporter.getFinishedSpans();
  const key = (s: ReadableSpan) => (s.attributes["stepwise.step_id"] === undefined ? -1 : Number(s.attributes["stepwise.function_id"]) * 100 + Number(s.attributes["stepwise.attempt"]));
  return spans.slice().sort((a, b) => key(a) - key(b));
}

describe("OpenTelemetry spans", () => {
  beforeAll(async () => {
    await Stepwise.launch({ dataDir: dir, logLevel: "silent" });
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    trace.disable();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("without a registered provider, nothing is recorded and nothing is registered", async () => {
    await (await Stepwise.startWorkflow(checkout, { workflowID: "untraced" })("o-0")).getResult();
    expect(exporter.getFinishedSpans()).toEqual([]);
    // Still the API's own proxy with no delegate: Stepwise did not set a provider.
    expect(trace.getTracer("probe").startSpan("probe").isRecording()).toBe(false);
    reserveCalls = 0;
  });

  test("a workflow with a retried step: a workflow span, a child span per attempt", async () => {
    expect(trace.setGlobalTracerProvider(provider)).toBe(true);
    const result = await (await Stepwise.startWorkflow(checkout, { workflowID: "traced-1" })("o-1")).getResult();
    expect(result).toEqual({ orderId: "o-1", held: "held sku-1", chargeId: "ch_1999" });
    await provider.forceFlush();

    const spans = finished();
    expect(spans.map((s) => s.name)).toEqual(["checkout", "reserve", "reserve", "charge"]);
    const [root, first, second, chargeSpan] = spans as [ReadableSpan, ReadableSpan, ReadableSpan, ReadableSpan];

    expect(root.parentSpanContext).toBeUndefined();
    expect(root.attributes).toMatchObject({
      "stepwise.workflow_id": "traced-1",
      "stepwise.workflow_name": "checkout",
      "stepwise.outcome": "success",
    });
    expect(root.instrumentationScope.name).toBe("stepwise");
    for (const child of [first, second, chargeSpan]) {
      expect(child.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
      expect(child.spanContext().traceId).toBe(root.spanContext().traceId);
      // Each child lies within the workflow's span.
      expect(byStart(root, child)).toBeLessThanOrEqual(0);
    }

    expect(first.attributes).toEqual({
      "stepwise.workflow_id": "traced-1",
      "stepwise.step_id": "reserve",
      "stepwise.function_id": 0,
      "stepwise.attempt": 1,
      "stepwise.max_attempts": 3,
      "stepwise.outcome": "error",
    });
    expect(first.status).toEqual({ code: SpanStatusCode.ERROR, message: "Error: warehouse busy" });
    expect(first.events.map((e) => e.name)).toEqual(["exception"]);
    expect(first.events[0]!.attributes?.["exception.message"]).toBe("warehouse busy");

    expect(second.attributes).toMatchObject({ "stepwise.function_id": 0, "stepwise.attempt": 2, "stepwise.outcome": "success" });
    expect(second.status.code).toBe(SpanStatusCode.UNSET);
    expect(chargeSpan.attributes).toMatchObject({ "stepwise.step_id": "charge", "stepwise.function_id": 1, "stepwise.attempt": 1, "stepwise.outcome": "success" });
    // The retry waited between the two attempts: they do not overlap.
    expect(byStart(first, second)).toBeLessThan(0);
  });

  test("a failed workflow's span has outcome error; a replayed step makes no span", async () => {
    exporter.reset();
    await expect(Stepwise.startWorkflow(declined, { workflowID: "traced-2" })().then((h) => h.getResult())).rejects.toThrow("card declined");
    await provider.forceFlush();
    const spans = finished();
    expect(spans.map((s) => [s.name, s.attributes["stepwise.outcome"]])).toEqual([
      ["declined", "error"],
      ["decline", "error"],
    ]);
    expect(spans[0]!.status.code).toBe(SpanStatusCode.ERROR);

    // A fork from function ID 1 replays `reserve` (recorded) and runs `charge` again.
    exporter.reset();
    const fork = await Stepwise.forkWorkflow("traced-1", 1, { newWorkflowID: "traced-1-fork" });
    await fork.getResult();
    await provider.forceFlush();
    const forked = finished();
    expect(forked.map((s) => s.name)).toEqual(["checkout", "charge"]);
    expect(forked[0]!.attributes).toMatchObject({ "stepwise.workflow_id": "traced-1-fork", "stepwise.resumed": true });
  });

  test("a transaction attempt and each messaging operation are spans under the workflow's; a replay makes none", async () => {
    exporter.reset();
    const result = await (await Stepwise.startWorkflow(talker, { workflowID: "traced-4" })()).getResult();
    expect(result).toEqual({ got: { n: 42 }, none: null, progress: "half" });
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans().slice().sort((a, b) => Number(a.attributes["stepwise.function_id"] ?? -2) - Number(b.attributes["stepwise.function_id"] ?? -2));
    const root = spans.find((s) => s.name === "talker")!;
    const children = spans.filter((s) => s !== root);
    // recv, getEvent and sleep record their deadline first (a function ID of its own), inside the span.
    expect(children.map((s) => [s.name, s.attributes["stepwise.function_id"], s.attributes["stepwise.outcome"]])).toEqual([
      ["tally", 0, "success"],
      ["Stepwise.send", 1, "success"],
      ["Stepwise.setEvent", 2, "success"],
      ["Stepwise.recv", 4, "success"],
      ["Stepwise.recv", 6, "success"],
      ["Stepwise.getEvent", 8, "success"],
      ["Stepwise.sleep", 9, "success"],
    ]);
    for (const child of children) expect(child.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    const [tallySpan, sendSpan, setEventSpan, delivered, timedOut, getEventSpan, sleepSpan] = children as ReadableSpan[];
    expect(tallySpan!.attributes).toMatchObject({ "stepwise.kind": "transaction", "stepwise.attempt": 1, "stepwise.isolation_level": "read committed", "stepwise.read_only": false });
    expect(sendSpan!.attributes).toMatchObject({ "stepwise.destination_id": "traced-4", "stepwise.topic": "self" });
    expect(setEventSpan!.attributes).toMatchObject({ "stepwise.event_key": "progress" });
    expect(delivered!.attributes["stepwise.timed_out"]).toBeUndefined();
    expect(timedOut!.attributes).toMatchObject({ "stepwise.topic": "never", "stepwise.timed_out": true });
    expect(getEventSpan!.attributes).toMatchObject({ "stepwise.target_workflow_id": "traced-4", "stepwise.event_key": "progress" });
    expect(sleepSpan!.attributes).toMatchObject({ "stepwise.sleep_ms": 0 });
    expect(sleepSpan!.attributes["stepwise.wake_at"]).toBeTypeOf("number");
    // No message or event value is put on a span.
    expect(JSON.stringify(children.map((s) => s.attributes))).not.toContain("half");

    // A fork from the end replays every operation: only the workflow's own span.
    exporter.reset();
    await (await Stepwise.forkWorkflow("traced-4", 10, { newWorkflowID: "traced-4-fork" })).getResult();
    await provider.forceFlush();
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(["talker"]);
  });

  test("with the app's context manager: a workflow nests under the caller's span, the app's spans under a step's", async () => {
    exporter.reset();
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const app = trace.getTracer("app");
      await app.startActiveSpan("POST /checkout", async (request) => {
        await (await Stepwise.startWorkflow(lookupWorkflow, { workflowID: "traced-3" })("sku-9")).getResult();
        request.end();
      });
      await provider.forceFlush();
      const spans = new Map(exporter.getFinishedSpans().map((s) => [s.name, s]));
      const request = spans.get("POST /checkout")!;
      const wf = spans.get("lookupWorkflow")!;
      const stepSpan = spans.get("lookup")!;
      const inner = spans.get("GET /stock")!;
      expect(wf.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
      expect(stepSpan.parentSpanContext?.spanId).toBe(wf.spanContext().spanId);
      expect(inner.parentSpanContext?.spanId).toBe(stepSpan.spanContext().spanId);
      expect(new Set([request, wf, stepSpan, inner].map((s) => s.spanContext().traceId)).size).toBe(1);
    } finally {
      context.disable();
    }
  });
});
