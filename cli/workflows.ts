/**
 * `stepwise workflows ...` and `stepwise recover`: the management API from a shell.
 * The CLI runs no workflow code of its own: resume, fork and recover hand runs to the
 * internal queue, where an executor that has the workflow picks them up.
 */
import type { Command } from "commander";
import { Stepwise, type WorkflowState } from "../runtime/index.js";
import { brief, duration, json, table, time } from "./format.js";
import { print } from "./terminal.js";
import { existingDatabaseOf } from "./connection.js";

const STATES: WorkflowState[] = ["ENQUEUED", "PENDING", "SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"];

async function withStepwise<T>(command: Command, fn: () => Promise<T>): Promise<T> {
  const { databaseUrl, dataDir } = existingDatabaseOf(command);
  await Stepwise.launch({ databaseUrl, dataDir, recover: false, listenQueues: [], logLevel: "error", executorID: "stepwise-cli" });
  try {
    return await fn();
  } finally {
    await Stepwise.shutdown();
  }
}

function parseTime(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`not a time: '${value}' (use ISO 8601, like 2026-01-31T12:00:00Z, or epoch ms)`);
  return ms;
}

/** A time, or an age before now: 30d, 12h, 90m, 45s. */
function parseCutoff(value: string): number {
  const age = /^(\d+)\s*(d|h|m|s)$/.exec(value);
  if (!age) return parseTime(value);
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[age[2] as "d" | "h" | "m" | "s"];
  return Date.now() - Number(age[1]) * unit;
}

export function registerWorkflowCommands(program: Command): void {
  const workflows = program.command("workflows").description("list, inspect and manage workflow runs");

  workflows
    .command("list")
    .description("list runs, newest first")
    .option("--status <status>", `only runs in this state (${STATES.join(", ")})`)
    .option("--name <name>", "only runs of this workflow")
    .option("--queue <queue>", "only runs of this queue")
    .option("--since <time>", "created at or after (ISO 8601 or epoch ms)")
    .option("--until <time>", "created before (ISO 8601 or epoch ms)")
    .option("--limit <n>", "at most this many", "20")
    .option("--json", "print JSON")
    .action(async (opts, command: Command) => {
      // Statuses are upper case in the database; accept `--status success` too.
      if (opts.status) opts.status = opts.status.toUpperCase();
      if (opts.status && !STATES.includes(opts.status)) throw new Error(`unknown status '${opts.status}'; one of ${STATES.join(", ")}`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit must be a whole number above 0, got '${opts.limit}'`);
      const runs = await withStepwise(command, () =>
        Stepwise.listWorkflows({
          status: opts.status,
          name: opts.name,
          queueName: opts.queue,
          startTime: opts.since ? parseTime(opts.since) : undefined,
          endTime: opts.until ? parseTime(opts.until) : undefined,
          limit,
        }),
      );
      if (opts.json) return print(json(runs));
      print(
        table(
          runs.map((r) => ({
            ID: r.workflowID,
            NAME: r.name,
            STATUS: r.status,
            CREATED: time(r.createdAt),
            DURATION: r.status === "PENDING" || r.status === "ENQUEUED" ? "" : duration(r.updatedAt.getTime() - r.createdAt.getTime()),
            NOTE: r.recoveryError ? brief(r.recoveryError, 50) : "",
          })),
          ["ID", "NAME", "STATUS", "CREATED", "DURATION", "NOTE"],
        ),
      );
    });

  workflows
    .command("show <workflowID>")
    .description("a run's status and, when it ended, its result or error")
    .option("--json", "print JSON")
    .action(async (workflowID: string, opts, command: Command) => {
      const shown = await withStepwise(command, async () => {
        const status = await Stepwise.getWorkflowStatus(workflowID);
        if (!status) return undefined;
        let outcome: { result?: unknown; error?: unknown } = {};
        if (status.status === "SUCCESS") outcome = { result: await Stepwise.retrieveWorkflow(workflowID).getResult() };
        if (status.status === "ERROR" || status.status === "CANCELLED") {
          outcome = { error: await Stepwise.retrieveWorkflow(workflowID).getResult().catch((e) => e) };
        }
        return { ...status, ...outcome };
      });
      if (!shown) throw new Error(`no workflow has the ID '${workflowID}'`);
      if (opts.json) return print(json(shown));
      for (const [key, value] of Object.entries(shown)) {
        print(`${key.padEnd(17)} ${value instanceof Date ? time(value) : value instanceof Error ? `${value.name}: ${value.message}` : brief(value, 200)}`);
      }
    });

  workflows
    .command("steps <workflowID>")
    .description("what a run recorded, operation by operation")
    .option("--json", "print JSON")
    .action(async (workflowID: string, opts, command: Command) => {
      const steps = await withStepwise(command, () => Stepwise.listWorkflowSteps(workflowID));
      if (opts.json) return print(json(steps));
      print(
        table(
          steps.map((s) => ({
            ID: String(s.functionID),
            STEP: s.stepID,
            OUTCOME: s.error ? `${s.error.name}: ${brief(s.error.message, 50)}` : s.childWorkflowID ? `child ${s.childWorkflowID}` : brief(s.output),
            ATTEMPTS: String(s.attempts),
            STARTED: time(s.startedAt),
            DURATION: duration(s.completedAt.getTime() - s.startedAt.getTime()),
          })),
          ["ID", "STEP", "OUTCOME", "ATTEMPTS", "STARTED", "DURATION"],
        ),
      );
    });

  workflows
    .command("start <workflowName>")
    .description("enqueue a run of a workflow by its name; an executor that has the workflow runs it")
    .option("--args <json>", "the workflow's arguments, a JSON array", "[]")
    .option("--id <workflowID>", "the run's ID (default: a random UUID); an ID that exists returns that run")
    .option("--queue <queue>", "the queue to wait in (default: the internal queue every executor takes from)")
    .option("--timeout-ms <ms>", "cancel the run if it has not ended this long after it starts")
    .action(async (workflowName: string, opts, command: Command) => {
      let args: unknown;
      try {
        args = JSON.parse(opts.args);
      } catch {
        throw new Error(`--args must be a JSON array, like '["order-1", 2]'; got '${opts.args}'`);
      }
      if (!Array.isArray(args)) throw new Error(`--args must be a JSON array, like '["order-1", 2]'; got '${opts.args}'`);
      const timeoutMS = opts.timeoutMs === undefined ? undefined : Number(opts.timeoutMs);
      const handle = await withStepwise(command, () =>
        Stepwise.enqueue(workflowName, { workflowID: opts.id, queue: opts.queue, timeoutMS }, ...(args as unknown[])),
      );
      print(`enqueued ${workflowName} as ${handle.workflowID}`);
    });

  workflows
    .command("cancel <workflowID>")
    .description("cancel a run that has not ended; it stops at its next durable operation")
    .action(async (workflowID: string, _opts, command: Command) => {
      const cancelled = await withStepwise(command, () => Stepwise.cancelWorkflow(workflowID));
      if (!cancelled) throw new Error(`workflow '${workflowID}' was not cancelled: it does not exist or has already ended`);
      print(`cancelled ${workflowID}`);
    });

  workflows
    .command("resume <workflowID>")
    .description("resume a cancelled or parked run from its last recorded step (an executor with the workflow runs it)")
    .action(async (workflowID: string, _opts, command: Command) => {
      const status = await withStepwise(command, async () => (await Stepwise.resumeWorkflow(workflowID)).getStatus());
      // Resuming a run that already ended does nothing (idempotent, as in DBOS): say so.
      if (status?.status === "SUCCESS" || status?.status === "ERROR") print(`${workflowID} has already ended (${status.status}); nothing to resume`);
      else print(`resumed ${workflowID}: queued for an executor that has its workflow`);
    });

  workflows
    .command("fork <workflowID>")
    .description("run a workflow again as a new run, keeping what it recorded before a function ID")
    .requiredOption("--from <functionID>", "the first function ID to run again (see `steps`)")
    .option("--id <newWorkflowID>", "the new run's ID (default: a random UUID)")
    .action(async (workflowID: string, opts, command: Command) => {
      const from = Number(opts.from);
      if (!Number.isInteger(from) || from < 0) throw new Error(`--from must be a function ID (0 or more), got '${opts.from}'`);
      const handle = await withStepwise(command, () => Stepwise.forkWorkflow(workflowID, from, { newWorkflowID: opts.id }));
      print(`forked ${workflowID} from function ID ${from} as ${handle.workflowID}`);
    });

  workflows
    .command("delete <workflowID>")
    .description("delete a run that has ended, with everything it recorded (its ID can then be started again)")
    .option("--children", "also delete the ended workflows it started")
    .action(async (workflowID: string, opts, command: Command) => {
      const deleted = await withStepwise(command, () => Stepwise.deleteWorkflow(workflowID, { deleteChildren: Boolean(opts.children) }));
      if (!deleted) throw new Error(`no workflow has the ID '${workflowID}'`);
      print(`deleted ${workflowID}`);
    });

  workflows
    .command("gc")
    .description("delete ended runs by age and count; runs that have not ended, and children of runs that have not, stay")
    .option("--older-than <age>", "created before this: a time (ISO 8601, epoch ms) or an age like 30d, 12h, 90m")
    .option("--keep <n>", "keep at least the newest n runs")
    .action(async (opts, command: Command) => {
      if (opts.olderThan === undefined && opts.keep === undefined) throw new Error("give --older-than, --keep or both");
      const keepNewest = opts.keep === undefined ? undefined : Number(opts.keep);
      if (keepNewest !== undefined && !(Number.isInteger(keepNewest) && keepNewest >= 0)) {
        throw new Error(`--keep must be a whole number, 0 or more, got '${opts.keep}'`);
      }
      const olderThan = opts.olderThan === undefined ? undefined : parseCutoff(opts.olderThan);
      const deleted = await withStepwise(command, () => Stepwise.garbageCollect({ olderThan, keepNewest }));
      print(`deleted ${deleted} ended run(s)`);
    });

  program
    .command("recover <executorIDs...>")
    .description("hand the PENDING runs of executors that are gone to the executors still running")
    .action(async (executorIDs: string[], _opts, command: Command) => {
      const handles = await withStepwise(command, () => Stepwise.recoverPendingWorkflows(executorIDs));
      print(`${handles.length} pending run(s) of ${executorIDs.join(", ")} queued for the running executors`);
      for (const handle of handles) print(`  ${handle.workflowID}`);
    });
}
