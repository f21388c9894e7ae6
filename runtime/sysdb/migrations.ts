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
];

export const SCHEMA_VERSION = MIGRATIONS.length;
