/**
 * OpenTelemetry spans: a span per workflow run executing in this process, and a child
 * span per step attempt, per transaction attempt and per messaging operation (send,
 * recv, setEvent, getEvent, sleep) it executes; what a replay takes from the database
 * makes no span. Only when the application has `@opentelemetry/api` installed
 * and has registered a tracer provider: Stepwise never registers one. The API is loaded
 * by dynamic import at launch, so the package works without it; while it is absent,
 * every function here returns at its first line and allocates nothing.
 */
import type * as otel from "@opentelemetry/api";
import type { WorkflowRun } from "./context.js";

let api: typeof otel | undefined;
let tracer: otel.Tracer | undefined;
// A run gets an entry only when its span records (a provider is registered and it is
// sampled): without one, its steps create no spans at all.
const workflowSpans = new WeakMap<WorkflowRun, otel.Span>();

export type Span = otel.Span;

/** "superseded": another executor recorded the operation first, and its outcome was taken. */
export type Outcome = "success" | "error" | "cancelled" | "parked" | "superseded";

/** Loads `@opentelemetry/api` if the application has it. Called by `Stepwise.launch()`. */
export async function loadTracing(): Promise<void> {
  if (api !== undefined) return;
  try {
    api = await import("@opentelemetry/api");
  } catch {
    return; // Not installed: tracing stays off.
  }
  // A proxy: it follows whatever provider the app registers, before or after launch.
  tracer = api.trace.getTracer("stepwise");
}

/**
 * Starts the span of a run about to execute here, as a child of the caller's active
 * span, and returns the body to run with that span active (the body itself when off).
 */
export function traceWorkflow<T>(run: WorkflowRun, body: () => Promise<T>): () => Promise<T> {
  if (tracer === undefined) return body;
  const span = tracer.startSpan(run.name, {
    attributes: {
      "stepwise.workflow_id": run.workflowID,
      "stepwise.workflow_name": run.name,
      "stepwise.resumed": run.resumed === true,
    },
  });
  if (!span.isRecording()) {
    span.end();
    return body;
  }
  workflowSpans.set(run, span);
  const ctx = api!.trace.setSpan(api!.context.active(), span);
  return () => api!.context.with(ctx, body);
}

/** Ends a run's span when its execution settles, with its outcome. */
export function endWorkflowSpan(run: WorkflowRun, execution: Promise<unknown>): void {
  if (tracer === undefined) return;
  const span = workflowSpans.get(run);
  if (span === undefined) return;
  execution.then(
    () => finish(span, "success"),
    (error) => finish(span, run.parked ? "parked" : run.cancelled ? "cancelled" : "error", error),
  );
}

/** Starts the span of one attempt of a step, a child of its run's span; undefined when the run is not traced. */
export function startStepSpan(
  run: WorkflowRun | undefined,
  stepID: string,
  functionID: number | undefined,
  attempt: number,
  maxAttempts: number,
): otel.Span | undefined {
  // Checked here too: the step path builds no attributes while tracing is off.
  if (tracer === undefined || run === undefined) return undefined;
  return startOperationSpan(run, stepID, functionID, { "stepwise.attempt": attempt, "stepwise.max_attempts": maxAttempts });
}

/**
 * Starts the span of a durable operation of a run (a step or transaction attempt, a
 * send, a wait), a child of the run's span, with the run's and the operation's IDs and
 * `attributes`; undefined when the run is not traced.
 */
export function startOperationSpan(
  run: WorkflowRun | undefined,
  name: string,
  functionID: number | undefined,
  attributes: otel.Attributes,
): otel.Span | undefined {
  if (tracer === undefined || run === undefined) return undefined;
  const parent = workflowSpans.get(run);
  if (parent === undefined) return undefined;
  return tracer.startSpan(
    name,
    { attributes: { "stepwise.workflow_id": run.workflowID, "stepwise.step_id": name, "stepwise.function_id": functionID ?? -1, ...attributes } },
    api!.trace.setSpan(api!.context.active(), parent),
  );
}

/** Runs a messaging operation under a span of its own (when its run is traced), ending it with the outcome. */
export async function traceOperation<T>(
  run: WorkflowRun,
  name: string,
  functionID: number,
  attributes: otel.Attributes,
  body: (span: otel.Span | undefined) => Promise<T>,
): Promise<T> {
  const span = startOperationSpan(run, name, functionID, attributes);
  if (span === undefined) return body(undefined);
  try {
    const value = await inSpan(span, () => body(span))();
    finish(span, "success");
    return value;
  } catch (error) {
    finish(span, run.cancelled ? "cancelled" : "error", error);
    throw error;
  }
}

/** The attempt's body with its span active, so the app's own spans inside a step nest under it. */
export function inSpan<T>(span: otel.Span | undefined, body: () => Promise<T>): () => Promise<T> {
  if (span === undefined) return body;
  const ctx = api!.trace.setSpan(api!.context.active(), span);
  return () => api!.context.with(ctx, body);
}

export function endStepSpan(span: otel.Span | undefined, outcome: "success" | "error" | "superseded", error?: unknown): void {
  if (span !== undefined) finish(span, outcome, error);
}

function finish(span: otel.Span, outcome: Outcome, error?: unknown): void {
  span.setAttribute("stepwise.outcome", outcome);
  // A cancelled run did what it was told: no error status.
  if (outcome === "error" || outcome === "parked") {
    if (error instanceof Error) span.recordException(error);
    span.setStatus({
      code: api!.SpanStatusCode.ERROR,
      message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
  }
  span.end();
}
