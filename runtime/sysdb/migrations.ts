/**
 * The system database's schema, as numbered migrations applied in order. The same SQL
 * serves Postgres and PGlite. Timestamps are epoch milliseconds (bigint), which both
 * drivers read back without time-zone surprises. Never edit a released migration:
 * add the next one.
 */
export const MIGRATIONS: readonly (readonly string[])[] = [
  // 1: workflow runs and their recorded operations.
  [
    `CREATE TABLE stepwise.workflow_status (
    workflow_id        text PRIMARY KEY,
    name               text NOT NULL,
    status             text NOT NULL,
    inputs             text,
    output             text,
    error              text,
    executor_id        text NOT NULL,
    recovery_attempts  integer NOT NULL DEFAULT 0,
    recovery_error     text,
    created_at         bigint NOT NULL,
    updated_at         bigint NOT NULL
  )`,
    `CREATE INDEX workflow_status_pending ON stepwise.workflow_status (executor_id) WHERE status = 'PENDING'`,
    `CREATE INDEX workflow_status_created ON stepwise.workflow_status (created_at)`,
    // One row per completed durable operation. No foreign key to workflow_status:
    // it would add a lookup and a row lock to every step's single insert.
    `CREATE TABLE stepwise.operation_outputs (
    workflow_id        text NOT NULL,
    function_id        integer NOT NULL,
    step_id            text NOT NULL,
    output             text,
    error              text,
    attempts           integer NOT NULL DEFAULT 1,
    child_workflow_id  text,
    started_at         bigint NOT NULL,
    completed_at       bigint NOT NULL,
    PRIMARY KEY (workflow_id, function_id)
  )`,
  ],
  // 2: queues, messages between workflows, workflow events.
  [
    `ALTER TABLE stepwise.workflow_status
       ADD COLUMN queue_name text,
       ADD COLUMN deduplication_id text,
       ADD COLUMN priority integer NOT NULL DEFAULT 0,
       ADD COLUMN started_at bigint`,
    `CREATE UNIQUE INDEX workflow_status_deduplication
       ON stepwise.workflow_status (queue_name, deduplication_id) WHERE deduplication_id IS NOT NULL`,
    `CREATE INDEX workflow_status_queue
       ON stepwise.workflow_status (queue_name, status, priority, created_at) WHERE queue_name IS NOT NULL`,
    `CREATE TABLE stepwise.notifications (
       seq             bigserial PRIMARY KEY,
       destination_id  text NOT NULL,
       topic           text,
       message         text NOT NULL,
       created_at      bigint NOT NULL
     )`,
    `CREATE INDEX notifications_destination ON stepwise.notifications (destination_id, topic, seq)`,
    `CREATE TABLE stepwise.workflow_events (
       workflow_id  text NOT NULL,
       key          text NOT NULL,
       value        text NOT NULL,
       updated_at   bigint NOT NULL,
       PRIMARY KEY (workflow_id, key)
     )`,
  ],
  // 3: workflow timeouts, what retention needs, executor heartbeats.
  [
    // timeout_ms is what the run was started with; deadline (epoch ms) is set when it
    // starts executing (at dequeue for a queued run) or inherited from its parent.
    `ALTER TABLE stepwise.workflow_status
       ADD COLUMN timeout_ms bigint,
       ADD COLUMN deadline bigint`,
    // Finds a child's parent, so that garbage collection keeps an ended child whose parent
    // has not ended (the parent's replay reads it). Only child rows are indexed.
    `CREATE INDEX operation_outputs_child ON stepwise.operation_outputs (child_workflow_id) WHERE child_workflow_id IS NOT NULL`,
    // One row per launched executor, its heartbeat renewed while it runs: an executor whose
    // heartbeat stopped has its PENDING runs taken over by the live ones.
    // instance: a random token per process, so that two live processes sharing one
    // executor ID see each other's writes.
    `CREATE TABLE stepwise.executors (
       executor_id   text PRIMARY KEY,
       instance      text NOT NULL,
       started_at    bigint NOT NULL,
       heartbeat_at  bigint NOT NULL
     )`,
    // The latest tick fired of each schedule that catches up: where a launch resumes from.
    `CREATE TABLE stepwise.schedules (
       name       text PRIMARY KEY,
       last_tick  bigint NOT NULL
     )`,
  ],
  // 4: FIFO by enqueue order, and the event history a fork rebuilds events from.
  [
    // A sequence, not created_at: runs enqueued in the same millisecond keep their order.
    // Added without a default and given one after, so existing rows stay NULL (no table
    // rewrite); they sort first, being older than any run numbered from here on.
    `CREATE SEQUENCE stepwise.enqueue_seq`,
    `ALTER TABLE stepwise.workflow_status ADD COLUMN enqueue_seq bigint`,
    `ALTER TABLE stepwise.workflow_status ALTER COLUMN enqueue_seq SET DEFAULT nextval('stepwise.enqueue_seq')`,
    `DROP INDEX stepwise.workflow_status_queue`,
    `CREATE INDEX workflow_status_queue
       ON stepwise.workflow_status (queue_name, status, priority, enqueue_seq NULLS FIRST) WHERE queue_name IS NOT NULL`,
    // Every value setEvent recorded, by the function ID that set it: a fork from function ID
    // N rebuilds the events its kept operations set (workflow_events keeps only the latest).
    `CREATE TABLE stepwise.workflow_events_history (
       workflow_id  text NOT NULL,
       function_id  integer NOT NULL,
       key          text NOT NULL,
       value        text NOT NULL,
       PRIMARY KEY (workflow_id, function_id)
     )`,
    // How a run records its operations. 2: its reads of other runs (a handle's result or
    // status, lists) are operations too. Runs recorded before this version stay NULL
    // (format 1, reads not recorded) and replay as they were recorded.
    `ALTER TABLE stepwise.workflow_status ADD COLUMN format_version integer`,
    `ALTER TABLE stepwise.workflow_status ALTER COLUMN format_version SET DEFAULT 2`,
  ],
  // 5: the process executing each run (see process-lock.ts): a random token per process,
  // held as an advisory lock while the process lives. Null for runs not executing yet.
  [`ALTER TABLE stepwise.workflow_status ADD COLUMN process_token text`],
];

export const SCHEMA_VERSION = MIGRATIONS.length;
