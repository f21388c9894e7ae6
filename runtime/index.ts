/** The public API of `stepwise`: the runtime, the markers and the errors. */
export { Stepwise, type StartWorkflowOptions, type EnqueueOptions, type StepInfo } from "./stepwise.js";
export type { GarbageCollectOptions, RetentionSchedule } from "./retention.js";
export type { ScheduleOptions } from "./schedule.js";
export { step, workflow, transaction, __stepwise } from "./markers.js";
export { Queue, type QueueOptions } from "./queue.js";
export { MAX_IDENTIFIER_BYTES } from "./identifiers.js";
export type { StepConfig, WorkflowConfig, TransactionConfig, IsolationLevel } from "./config.js";
export type { LaunchConfig } from "./executor.js";
export type { DashboardOptions } from "./dashboard/server.js";
export type { Logger, LogLevel } from "./logger.js";
export type { StepStatus } from "./context.js";
export type { WorkflowHandle, WorkflowStatus } from "./workflow.js";
export type { WorkflowFilter, WorkflowState } from "./sysdb/system-database.js";
export type { Queryable, QueryResult } from "./sysdb/driver.js";
export {
  StepwiseError,
  WorkflowConflictError,
  NonDeterminismError,
  NonRetryableError,
  MaxStepRetriesError,
  StepTimeoutError,
  WorkflowNotRegisteredError,
  WorkflowNotFoundError,
  SchemaVersionError,
  DatabaseConnectionError,
  DeserializationError,
  ConfigError,
  SerializationError,
  QueueDeduplicatedError,
  WorkflowCancelledError,
  WorkflowTimeoutError,
  ShutdownError,
  ProcessLockLostError,
} from "./errors.js";
