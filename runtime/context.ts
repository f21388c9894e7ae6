/**
 * What the runtime knows about the code running now, carried through awaits by
 * AsyncLocalStorage: the current workflow run (with its function-ID counter and, when
 * replaying, what it recorded), the current step, and a pending invocation from
 * `startWorkflow` or recovery that the next workflow entry picks up.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Executor } from "./executor.js";
import type { Queryable } from "./sysdb/driver.js";
import type { OperationRow, QueuePlacement } from "./sysdb/system-database.js";

export interface StepStatus {
  /** 1 for the first attempt. */
  currentAttempt: number;
  maxAttempts: number;
  /** Aborted when the attempt passes its `timeoutMS`. */
  signal: AbortSignal;
}

export interface WorkflowRun {
  workflowID: string;
  /**
   * The launched runtime executing the run. Its operations use this one, never the
   * process-wide current one: that is cleared by shutdown, or another after a relaunch.
   */
  executor: Executor;
  name: string;
  /** The function ID the next durable operation takes. Taken synchronously at call time. */
  nextFunctionID: number;
  /** What a run being replayed recorded, by function ID; undefined for a fresh run. */
  recorded: Map<number, OperationRow> | undefined;
  /**
   * Resumed from its record (recovery, a queue, resume) rather than started here: an
   * operation past the record may have had effects before, as a transaction that
   * committed in a separate application database just before a crash.
   */
  resumed?: boolean;
  /**
   * Set when the run cannot go on correctly (non-determinism, an unreadable row, the
   * system database failing): the run must then stay PENDING, not end in ERROR.
   */
  parked?: Error;
  /**
   * false for a run recorded before reads of other runs were operations (format 1): it
   * replays them as it recorded them, by reading live. Undefined: a new run, recorded.
   */
  recordsReads?: boolean;
  /**
   * Set when this process must stop executing the run (shutdown, or its process lock
   * lost): its next durable operation throws this, and nothing is recorded as its outcome.
   */
  stopped?: Error;
  /** Set once `stopped` was thrown into the workflow's code: what the body returns then is not its outcome. */
  stopThrown?: boolean;
  /** Set when the run is cancelled: it stops at its next durable operation. */
  cancelled?: boolean;
  /** When it is cancelled if it has not ended (epoch ms), and the timeout that set it (null: inherited). */
  deadline?: { at: number; timeoutMS: number | null };
  /** Set with `cancelled` when the cancellation was its deadline: the recording of that cancellation. */
  timedOut?: Promise<void>;
}

export interface StepFrame {
  stepID: string;
  functionID: number | undefined;
  status: StepStatus;
}

/** What `startWorkflow` or recovery asks of the next workflow entry. */
export interface Invocation {
  workflowID?: string;
  /** Return a handle instead of waiting for the result. */
  wantHandle: boolean;
  /** Resume this recorded run. */
  recover?: {
    executor: Executor;
    token: string;
    workflowID: string;
    operations: OperationRow[];
    queueName?: string | null;
    deadline?: WorkflowRun["deadline"];
    recordsReads: boolean;
  };
  /** Enqueue the run instead of starting it. */
  queue?: QueuePlacement;
  /** Cancel the run if it has not ended this many ms after it starts executing. */
  timeoutMS?: number;
  /**
   * false: when the ID is taken by a PENDING run of this executor that is not running
   * here, leave it (another live process with this executor ID may be running it); by
   * default it is taken for an interrupted run of an earlier process and resumed.
   */
  adopt?: boolean;
  consumed: boolean;
}

export interface Frame {
  workflow?: WorkflowRun;
  step?: StepFrame;
  /** Inside a transaction function: its name and the client bound to its database transaction. */
  transaction?: { name: string; sql: Queryable };
  invocation?: Invocation;
}

export const frames = new AsyncLocalStorage<Frame>();

export function currentFrame(): Frame | undefined {
  return frames.getStore();
}

/** Takes the pending invocation, if any, so that only the first workflow entry sees it. */
export function takeInvocation(): Invocation | undefined {
  const invocation = frames.getStore()?.invocation;
  if (!invocation || invocation.consumed) return undefined;
  invocation.consumed = true;
  return invocation;
}
