/**
 * The dashboard's JSON API, shared by the server and the page. Times are epoch ms.
 * No type here carries a run's inputs except `InputsResponse`, fetched only when asked.
 */
/** A stored value as the page shows it. */
export interface Shown {
  text: string;
  /** The value could not be read back; `text` is the stored row itself. */
  raw?: true;
  truncated?: true;
  /**
   * The value is too large to read back for a page (its stored size, in bytes): `text`
   * is the start of its stored form, and `download` the API path of the whole of it.
   */
  storedBytes?: number;
  download?: string;
}

export interface ShownError {
  name: string;
  message: string;
  stack?: string;
  /** Own fields other than name, message and stack (a MaxStepRetriesError's attempts, say). */
  fields?: string;
}

export type RunState = "ENQUEUED" | "PENDING" | "SUCCESS" | "ERROR" | "CANCELLED" | "MAX_RECOVERY_ATTEMPTS_EXCEEDED";

export const RUN_STATES: readonly RunState[] = ["PENDING", "ENQUEUED", "SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"];

export interface RunSummary {
  workflowID: string;
  name: string;
  status: RunState;
  executorID: string;
  createdAt: number;
  updatedAt: number;
  /** Until it ended; null while it has not. */
  durationMs: number | null;
  recoveryError: string | null;
}

export interface ListResponse {
  runs: RunSummary[];
  hasMore: boolean;
  /** Workflow names that have runs, for the name filter; only when asked with `names=1`. */
  names?: string[];
  /** The server's clock, to show how long an unfinished run has been going. */
  now: number;
}

export type OperationKind = "step" | "child" | "send" | "recv" | "setEvent" | "getEvent" | "sleep" | "now" | "randomUUID";

export interface StepView {
  functionID: number;
  stepID: string;
  kind: OperationKind;
  attempts: number;
  startedAt: number;
  completedAt: number;
  childWorkflowID: string | null;
  output: Shown | null;
  error: ShownError | null;
}

export interface RunDetail extends RunSummary {
  queueName: string | null;
  startedAt: number | null;
  recoveryAttempts: number;
  /** The timeout it was started with, ms, and its deadline (epoch ms); null for none. */
  timeoutMS: number | null;
  deadline: number | null;
  result: Shown | null;
  error: ShownError | null;
}

export interface RunResponse {
  run: RunDetail;
  steps: StepView[];
  /** Messages waiting in the run's inbox (received ones are `recv` steps). */
  inbox: { seq: number; topic: string | null; createdAt: number; message: Shown }[];
  events: { key: string; value: Shown; updatedAt: number }[];
  now: number;
}

export interface InputsResponse {
  inputs: Shown;
}

export interface ActionResponse {
  ok: boolean;
  /** The run the action leads to: the same one, or a fork's new run. */
  workflowID: string;
  message: string;
}
