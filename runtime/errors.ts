/**
 * The runtime's own errors. Each carries a stable `name`, so an error recorded in the
 * system database comes back on replay as the same class (see serialize.ts).
 */

export class StepwiseError extends Error {
  override name = "StepwiseError";
}

/** A workflow ID already belongs to a run of another workflow. */
export class WorkflowConflictError extends StepwiseError {
  override name = "WorkflowConflictError";
  constructor(
    readonly workflowID: string,
    readonly recordedName: string,
    readonly requestedName: string,
  ) {
    super(
      `Workflow ID '${workflowID}' already belongs to a run of '${recordedName}', not '${requestedName}'. ` +
        `A workflow ID is an idempotency key: choose another ID for this run.`,
    );
  }
}

/** The code called a different operation than the one recorded at this function ID. */
export class NonDeterminismError extends StepwiseError {
  override name = "NonDeterminismError";
  constructor(
    readonly workflowID: string,
    readonly functionID: number,
    readonly recorded: string,
    readonly expected: string,
  ) {
    super(
      `Workflow '${workflowID}' is not deterministic: at function ID ${functionID} it recorded '${recorded}', ` +
        `but the code now calls '${expected}'. A workflow must call the same durable operations in the same order ` +
        `on replay; move the changed logic into a step, or start the change under a new workflow name.`,
    );
  }
}

/** Thrown by a step to stop retrying at once. */
export class NonRetryableError extends StepwiseError {
  override name = "NonRetryableError";
}

/** A step failed on every attempt it was allowed. */
export class MaxStepRetriesError extends StepwiseError {
  override name = "MaxStepRetriesError";
  constructor(
    readonly stepID: string,
    readonly attempts: number,
    readonly errors: unknown[],
  ) {
    const last = errors[errors.length - 1];
    super(
      `Step '${stepID}' failed after ${attempts} attempt${attempts === 1 ? "" : "s"}` +
        (last instanceof Error ? `; last error: ${last.message}` : ""),
    );
  }
}

/** One attempt of a step ran longer than its `timeoutMS`. */
export class StepTimeoutError extends StepwiseError {
  override name = "StepTimeoutError";
  constructor(
    readonly stepID: string,
    readonly timeoutMS: number,
  ) {
    super(`Step '${stepID}' attempt timed out after ${timeoutMS} ms`);
  }
}

/** A recorded run names a workflow that this process has not registered. */
export class WorkflowNotRegisteredError extends StepwiseError {
  override name = "WorkflowNotRegisteredError";
  constructor(
    readonly workflowID: string,
    readonly workflowName: string,
  ) {
    super(
      `Workflow '${workflowID}' was recorded as '${workflowName}', but no workflow of that name is registered ` +
        `in this process. Import the module that defines it before Stepwise.launch(), or restore the name; ` +
        `the run stays PENDING and nothing recorded is lost.`,
    );
  }
}

/** The database's `stepwise` schema was written by a newer version of Stepwise. */
export class SchemaVersionError extends StepwiseError {
  override name = "SchemaVersionError";
  constructor(
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `The system database's schema 'stepwise' is at version ${databaseVersion}, newer than this Stepwise ` +
        `(which knows up to version ${codeVersion}). Upgrade the stepwise package; refusing to downgrade the schema.`,
    );
  }
}

/** The system database cannot be reached or opened. */
export class DatabaseConnectionError extends StepwiseError {
  override name = "DatabaseConnectionError";
}

/** A recorded value cannot be read back. */
export class DeserializationError extends StepwiseError {
  override name = "DeserializationError";
}

/** A value cannot be stored faithfully (a function, a promise, an unregistered class instance...). */
export class SerializationError extends StepwiseError {
  override name = "SerializationError";
}

/** A step, workflow or marker was defined with an invalid config. */
export class ConfigError extends StepwiseError {
  override name = "ConfigError";
}

/** No run has this workflow ID: awaited, resumed, forked or sent a message. */
export class WorkflowNotFoundError extends StepwiseError {
  override name = "WorkflowNotFoundError";
  constructor(readonly workflowID: string, message = `No workflow with ID '${workflowID}' is recorded in the system database.`) {
    super(message);
  }
}

/** A run was enqueued with a deduplication ID that a run still waiting or running in that queue has. */
export class QueueDeduplicatedError extends StepwiseError {
  override name = "QueueDeduplicatedError";
  constructor(
    readonly workflowID: string,
    readonly queueName: string,
    readonly deduplicationID: string,
  ) {
    super(
      `Workflow '${workflowID}' was not enqueued: queue '${queueName}' already holds a run with deduplication ID ` +
        `'${deduplicationID}'. It can be reused once that run ends.`,
    );
  }
}

/** The workflow was cancelled; it stops at its next durable operation. */
export class WorkflowCancelledError extends StepwiseError {
  override name = "WorkflowCancelledError";
  constructor(readonly workflowID: string, message = `Workflow '${workflowID}' was cancelled.`) {
    super(message);
  }
}

/** A run that reached its deadline (its `timeoutMS`, or its parent's) before it ended: it was cancelled. `timeoutMS` is its own, null when it had none. */
export class WorkflowTimeoutError extends WorkflowCancelledError {
  override name = "WorkflowTimeoutError";
  constructor(workflowID: string, readonly timeoutMS: number | null, readonly deadline: number) {
    super(
      workflowID,
      `Workflow '${workflowID}' timed out: its deadline (${new Date(deadline).toISOString()}, from its timeoutMS or its parent's) ` +
        `passed before it ended, and it was cancelled. Resume it to run it on with no timeout, or start it with a longer timeoutMS.`,
    );
  }
}

/**
 * `Stepwise.shutdown()` stopped this run in this process before it ended (or this
 * process shut down while waiting for it): nothing was recorded as its outcome, it stays
 * PENDING and resumes at the next launch, or in another live process.
 */
export class ShutdownError extends StepwiseError {
  override name = "ShutdownError";
  constructor(readonly workflowID: string | undefined) {
    super(
      workflowID === undefined
        ? `Stepwise is shutting down in this process: it takes no new work. Start the run after the next launch, or in another process.`
        : `Stepwise.shutdown() was called in this process before workflow '${workflowID}' ended here. Nothing was recorded as its ` +
            `outcome: it stays PENDING and resumes at the next launch (or in another live process); read its result from there.`,
    );
  }
}

/**
 * This process lost the database connection that holds its process lock (a Postgres
 * restart, say), so it no longer proves to other processes that it is alive: its runs in
 * flight stop at their next durable operation, stay PENDING, and are resumed (here or by
 * another process) once a lock is held again. Thrown into workflow code only.
 */
export class ProcessLockLostError extends StepwiseError {
  override name = "ProcessLockLostError";
  constructor(readonly workflowID: string) {
    super(
      `Workflow '${workflowID}' stopped in this process: the connection holding this process's lock on the system database ` +
        `was lost. It stays PENDING and is resumed from its last recorded step once this or another process holds a lock again.`,
    );
  }
}

/**
 * The runtime's error classes by their stored names. Spelled out as literals rather than
 * read from `cls.name`, because a minifier renames classes.
 */
export const RUNTIME_ERROR_CLASSES: Record<string, new (...args: never[]) => Error> = {
  StepwiseError,
  WorkflowConflictError,
  NonDeterminismError,
  NonRetryableError,
  MaxStepRetriesError,
  StepTimeoutError,
  WorkflowNotRegisteredError,
  SchemaVersionError,
  DatabaseConnectionError,
  DeserializationError,
  SerializationError,
  ConfigError,
  WorkflowNotFoundError,
  QueueDeduplicatedError,
  WorkflowCancelledError,
  WorkflowTimeoutError,
  ShutdownError,
  ProcessLockLostError,
};
