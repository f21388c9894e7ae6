/**
 * The dashboard's JSON API over the management API: the list of runs, one run with
 * what it recorded (steps, messages waiting in its inbox, events), and the actions.
 * Reads go to the system database of the launched runtime; nothing here runs on a
 * workflow's path.
 */
import { requireExecutor } from "../executor.js";
import { Stepwise } from "../stepwise.js";
import type { OperationRow, WorkflowRow } from "../sysdb/system-database.js";
import { showStored, showStoredError } from "./display.js";
import {
  RUN_STATES,
  type ActionResponse,
  type InputsResponse,
  type ListResponse,
  type OperationKind,
  type RunDetail,
  type RunResponse,
  type RunState,
  type RunSummary,
  type StepView,
} from "./types.js";

/** A refusal the page can show as it is, with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const ENDED = new Set<RunState>(["SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]);

function summary(s: { workflowID: string; name: string; status: RunState; executorID: string; recoveryError: string | null }, createdAt: number, updatedAt: number): RunSummary {
  return {
    workflowID: s.workflowID,
    name: s.name,
    status: s.status,
    executorID: s.executorID,
    createdAt,
    updatedAt,
    durationMs: ENDED.has(s.status) ? updatedAt - createdAt : null,
    recoveryError: s.recoveryError,
  };
}

function wholeNumber(value: string | null, what: string, fallback: number, min: number, max: number): number {
  if (value === null || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ApiError(400, `${what} must be a whole number from ${min} to ${max}, got '${value}'`);
  return n;
}

export async function listRuns(query: URLSearchParams): Promise<ListResponse> {
  const status = query.get("status") || undefined;
  if (status !== undefined && !RUN_STATES.includes(status as RunState)) {
    throw new ApiError(400, `unknown status '${status}'; one of ${RUN_STATES.join(", ")}`);
  }
  const limit = wholeNumber(query.get("limit"), "limit", 25, 1, 500);
  const offset = wholeNumber(query.get("offset"), "offset", 0, 0, Number.MAX_SAFE_INTEGER);
  // One more than a page tells whether there is a next page. The names take a scan of
  // the runs, so only when asked (once per page load), not on every poll.
  const [statuses, names] = await Promise.all([
    Stepwise.listWorkflows({ status: status as RunState | undefined, name: query.get("name") || undefined, limit: limit + 1, offset }),
    query.get("names") === "1" ? requireExecutor().sysdb.listWorkflowNames() : undefined,
  ]);
  return {
    runs: statuses.slice(0, limit).map((s) => summary(s, s.createdAt.getTime(), s.updatedAt.getTime())),
    hasMore: statuses.length > limit,
    names,
    now: Date.now(),
  };
}

function kindOf(row: OperationRow): OperationKind {
  if (row.childWorkflowID) return "child";
  if (row.stepID.startsWith("Stepwise.")) {
    const op = row.stepID.slice("Stepwise.".length);
    if (["send", "recv", "setEvent", "getEvent", "sleep", "now", "randomUUID"].includes(op)) return op as OperationKind;
  }
  return "step";
}

function detail(row: WorkflowRow): RunDetail {
  const where = `workflow '${row.workflowID}'`;
  return {
    ...summary(row, row.createdAt, row.updatedAt),
    queueName: row.queueName,
    startedAt: row.startedAt,
    recoveryAttempts: row.recoveryAttempts,
    timeoutMS: row.timeoutMS,
    deadline: row.deadline,
    result: row.status === "SUCCESS" ? showStored(row.output, where, `${runPath(row.workflowID)}/result`) : null,
    // A cancellation with a reason (a timeout) has it as its error.
    error: (row.status === "ERROR" || row.status === "CANCELLED") && row.error !== null ? showStoredError(row.error, where) : null,
  };
}

/**
 * A run's page. `afterFunctionID`: only the steps after it (the page polling a live run
 * asks for what it does not have yet, not for every step each second).
 */
export async function getRun(workflowID: string, afterFunctionID = -1): Promise<RunResponse> {
  const { sysdb } = requireExecutor();
  const row = await sysdb.getWorkflow(workflowID);
  if (!row) throw new ApiError(404, `no workflow has the ID '${workflowID}'`);
  const [operations, inbox, events] = await Promise.all([
    sysdb.loadOperations(workflowID, afterFunctionID),
    sysdb.listMessages(workflowID),
    sysdb.listEvents(workflowID),
  ]);
  const steps = operations.map((op): StepView => {
    const where = `workflow '${workflowID}', function ID ${op.functionID}`;
    return {
      functionID: op.functionID,
      stepID: op.stepID,
      kind: kindOf(op),
      attempts: op.attempts,
      startedAt: op.startedAt,
      completedAt: op.completedAt,
      childWorkflowID: op.childWorkflowID,
      output: op.error === null && !op.childWorkflowID ? showStored(op.output, where, `${runPath(workflowID)}/steps/${op.functionID}/output`) : null,
      error: op.error === null ? null : showStoredError(op.error, where),
    };
  });
  return {
    run: detail(row),
    steps,
    inbox: inbox.map((m) => ({ seq: m.seq, topic: m.topic, createdAt: m.createdAt, message: showStored(m.message, `a message to ${workflowID}`) })),
    events: events.map((e) => ({ key: e.key, updatedAt: e.updatedAt, value: showStored(e.value, `event '${e.key}'`) })),
    now: Date.now(),
  };
}

/** A run's inputs: the one place they are shown, and only when the page asks for them. */
export async function getInputs(workflowID: string): Promise<InputsResponse> {
  const row = await requireExecutor().sysdb.getWorkflow(workflowID);
  if (!row) throw new ApiError(404, `no workflow has the ID '${workflowID}'`);
  return { inputs: showStored(row.inputs, `the inputs of workflow '${workflowID}'`, `${runPath(workflowID)}/inputs/stored`) };
}

function runPath(workflowID: string): string {
  return `/api/workflows/${encodeURIComponent(workflowID)}`;
}

/** The stored form of a run's result or inputs, or of one step's output, for a download. */
export async function storedValue(workflowID: string, what: "result" | "inputs" | number): Promise<string> {
  const { sysdb } = requireExecutor();
  if (typeof what === "number") {
    const [op] = (await sysdb.loadOperations(workflowID, what - 1)).filter((o) => o.functionID === what);
    if (!op || op.error !== null || op.output === null) throw new ApiError(404, `workflow '${workflowID}' has no recorded output at function ID ${what}`);
    return op.output;
  }
  const row = await sysdb.getWorkflow(workflowID);
  if (!row) throw new ApiError(404, `no workflow has the ID '${workflowID}'`);
  const text = what === "result" ? (row.status === "SUCCESS" ? row.output : null) : row.inputs;
  if (text === null) throw new ApiError(404, `workflow '${workflowID}' has no ${what}`);
  return text;
}

export async function act(workflowID: string, action: string, body: Record<string, unknown>): Promise<ActionResponse> {
  const status = await Stepwise.getWorkflowStatus(workflowID);
  if (!status) throw new ApiError(404, `no workflow has the ID '${workflowID}'`);
  switch (action) {
    case "cancel": {
      const cancelled = await Stepwise.cancelWorkflow(workflowID);
      if (!cancelled) throw new ApiError(409, `workflow '${workflowID}' has already ended (${status.status}); only a run that has not ended can be cancelled`);
      return { ok: true, workflowID, message: `cancelled ${workflowID}` };
    }
    case "resume": {
      if (status.status === "SUCCESS" || status.status === "ERROR") {
        throw new ApiError(409, `workflow '${workflowID}' has already ended (${status.status}); fork it to run it again`);
      }
      await Stepwise.resumeWorkflow(workflowID);
      return { ok: true, workflowID, message: `resumed ${workflowID}` };
    }
    case "fork": {
      const from = body.fromFunctionID;
      if (typeof from !== "number" || !Number.isInteger(from) || from < 0) {
        throw new ApiError(400, `fork needs fromFunctionID, a function ID (0 or more), got ${JSON.stringify(from)}`);
      }
      const handle = await Stepwise.forkWorkflow(workflowID, from);
      return { ok: true, workflowID: handle.workflowID, message: `forked ${workflowID} from function ID ${from} as ${handle.workflowID}` };
    }
    default:
      throw new ApiError(404, `unknown action '${action}'; one of cancel, resume, fork`);
  }
}
