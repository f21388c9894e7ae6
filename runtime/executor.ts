/**
 * The launched runtime: the system database, this process's executor ID, the runs in
 * flight here, and recovery. `Stepwise.launch()` creates the one instance.
 */
import type { DashboardOptions } from "./dashboard/server.js";
import { ConfigError, ProcessLockLostError, ShutdownError, StepwiseError } from "./errors.js";
import { checkIdentifier } from "./identifiers.js";
import type { WorkflowRun } from "./context.js";
import type { RetentionSchedule } from "./retention.js";
import { consoleLogger, type LogLevel, type Logger } from "./logger.js";
import { Notifier } from "./notifier.js";
import { AppDatabase, sameDatabase } from "./sysdb/app-database.js";
import { openPGlite } from "./sysdb/pglite.js";
import { openPostgres } from "./sysdb/pg.js";
import { embeddedProcessLock, holdProcessLock, type ProcessLock } from "./process-lock.js";
import { channelKey, SystemDatabase } from "./sysdb/system-database.js";

export interface LaunchConfig {
  /** A Postgres connection string for the system database. Default: env STEPWISE_DATABASE_URL, else the embedded database. */
  databaseUrl?: string;
  /** Folder of the embedded database (PGlite), used when no databaseUrl is set. Default `./.stepwise`; "memory://" keeps it in memory. */
  dataDir?: string;
  /**
   * This process's executor ID; runs it owns are recovered at launch. Default: env
   * STEPWISE_EXECUTOR_ID, else "local". Processes may share one: a run is executed by one
   * live process at a time whatever the IDs (see process-lock.ts).
   */
  executorID?: string;
  /**
   * Resume this executor's PENDING runs at launch (default true). With it, the process
   * also keeps a heartbeat and takes over the runs of executors whose heartbeat stopped
   * (see executorTimeoutSeconds); false (the CLI) does neither.
   */
  recover?: boolean;
  /**
   * How long an executor may go without a heartbeat before the live ones take over its
   * PENDING runs (default 60 seconds). Heartbeats are written every sixth of it, at most every 10 s.
   */
  executorTimeoutSeconds?: number;
  logger?: Logger;
  /** Level of the default logger (default: env STEPWISE_LOG_LEVEL, else "info"). */
  logLevel?: LogLevel;
  /** Size of the Postgres connection pool (default 10). */
  maxConnections?: number;
  /**
   * How long a statement keeps retrying while the connection to Postgres is lost
   * (default 300 seconds). Runs still cut off after that stay PENDING and are resumed
   * by this process once the database answers again.
   */
  reconnectSeconds?: number;
  /**
   * The largest a step's or workflow's result may be once stored, in bytes (default
   * 16 MiB). A larger one fails that step with a SerializationError naming it.
   */
  maxOutputBytes?: number;
  /**
   * The queues this process dequeues from, by name or Queue. Default: every queue
   * defined in the process. `[]` makes a process that only enqueues (a web server, the CLI).
   */
  listenQueues?: (string | { name: string })[];
  /**
   * A Postgres connection string for the application database, where `@transaction`
   * functions run. Default: the system database (then a transaction and its checkpoint
   * commit together). A separate one gets a pool of its own (`maxConnections` too) and
   * a small table `stepwise_app.transaction_outputs`.
   */
  applicationDatabaseUrl?: string;
  /**
   * Serve the dashboard from this process: `true`, or `{ port, host, token }` (default
   * port 4000 on 127.0.0.1; any other address needs a token, default env STEPWISE_UI_TOKEN).
   */
  dashboard?: boolean | DashboardOptions;
  /**
   * Delete ended runs on a schedule, from this process: `garbageCollect` every
   * `everyMinutes` (default 60) with `olderThanHours` and/or `keepNewest`. Default: none
   * (runs are kept until deleted). Several processes may all have it; they share the work.
   */
  retention?: RetentionSchedule;
  /**
   * How long `Stepwise.shutdown()` lets the steps executing at that moment finish and
   * record their outcome (default 10000 ms). Runs stop at their next durable operation
   * either way, and stay PENDING.
   */
  shutdownTimeoutMS?: number;
}

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface RunningWorkflow {
  name: string;
  promise: Promise<unknown>;
  run?: WorkflowRun;
  queueName?: string | null;
}

export class Executor {
  /** Result promises of the runs executing in this process, by workflow ID. */
  readonly running = new Map<string, RunningWorkflow>();
  /** Wake-ups from NOTIFY: messages, events, cancellations, queue slots. */
  readonly notifier = new Notifier();
  /** Largest stored form of a step's or workflow's result (launch option maxOutputBytes). */
  maxOutputBytes = DEFAULT_MAX_OUTPUT_BYTES;
  /** Runs of this process stopped by a database outage; resumed once the database answers again. */
  readonly interrupted = new Set<string>();
  /** Stops background work (queue dispatch) at shutdown. */
  readonly stopHooks: (() => Promise<void> | void)[] = [];
  /** Disarm the deadline timers of the runs in flight here (timeouts.ts); cleared at shutdown. */
  readonly deadlines = new Set<() => void>();
  /** The application database when it is not the system database; undefined when they are one. */
  appdb: AppDatabase | undefined;
  /** Step and transaction executions in flight here: a shutdown lets them finish and record. */
  readonly executing = new Set<Promise<unknown>>();
  /** Set when shutdown begins: no new work is taken, and runs stop at their next durable operation. */
  stopping = false;
  /** Set once shutdown closes the databases: a failure of a run's database work after that is the close, not the run. */
  closed = false;
  shutdownTimeoutMS = DEFAULT_SHUTDOWN_TIMEOUT_MS;
  /** Told when shutdown begins: waits outside runs (a handle's getResult) end then. */
  readonly stopListeners = new Set<() => void>();
  /** Told when the process lock is held again after it was lost (liveness resumes the runs stopped then). */
  readonly regainListeners = new Set<() => void>();
  private closing: Promise<void> | undefined;

  constructor(
    readonly sysdb: SystemDatabase,
    readonly executorID: string,
    readonly logger: Logger,
    readonly lock: ProcessLock,
  ) {
    sysdb.lock = lock;
    lock.onLost = () => {
      this.stopRuns((workflowID) => new ProcessLockLostError(workflowID));
    };
    lock.onRegained = () => {
      for (const listener of this.regainListeners) listener();
    };
  }

  /**
   * Whether a run recorded with process token `token` (read from `lock.token` just before
   * the statement that claimed or started it) may execute here: not once shutdown has
   * begun, and only under the lock this process holds now. A run claimed under a token
   * lost meanwhile has no live owner in the database's eyes, so another process may
   * claim it too: it must not run here, and is recovered as any run of a gone process.
   */
  mayExecute(token: string): boolean {
    return !this.stopping && this.lock.held && token === this.lock.token;
  }

  /** Why a run may not execute here now (see mayExecute). */
  stopReason(workflowID: string): Error {
    return this.stopping ? new ShutdownError(workflowID) : new ProcessLockLostError(workflowID);
  }

  /** Stops every run in flight here at its next durable operation, waking those that wait. */
  stopRuns(reason: (workflowID: string) => Error): void {
    for (const { run } of this.running.values()) {
      if (!run || run.stopped) continue;
      run.stopped = reason(run.workflowID);
      this.notifier.wake(channelKey(run.workflowID));
    }
  }

  /** Tracks a step's or transaction's execution until it settles, for shutdown to wait for. */
  track<T>(execution: Promise<T>): Promise<T> {
    this.executing.add(execution);
    const done = () => this.executing.delete(execution);
    execution.then(done, done);
    return execution;
  }

  static async open(config: LaunchConfig): Promise<Executor> {
    const logger = config.logger ?? consoleLogger(config.logLevel);
    const url = config.databaseUrl ?? (process.env.STEPWISE_DATABASE_URL || undefined);
    if (config.maxConnections !== undefined && !(Number.isInteger(config.maxConnections) && config.maxConnections > 0)) {
      throw new ConfigError(`launch option 'maxConnections' must be a whole number above 0, got ${config.maxConnections}`);
    }
    if (config.maxOutputBytes !== undefined && !(Number.isInteger(config.maxOutputBytes) && config.maxOutputBytes > 0)) {
      throw new ConfigError(`launch option 'maxOutputBytes' must be a whole number above 0, got ${config.maxOutputBytes}`);
    }
    if (config.executorTimeoutSeconds !== undefined && !(Number.isFinite(config.executorTimeoutSeconds) && config.executorTimeoutSeconds > 0)) {
      throw new ConfigError(`launch option 'executorTimeoutSeconds' must be a number above 0, got ${config.executorTimeoutSeconds}`);
    }
    if (config.shutdownTimeoutMS !== undefined && !(Number.isFinite(config.shutdownTimeoutMS) && config.shutdownTimeoutMS >= 0)) {
      throw new ConfigError(`launch option 'shutdownTimeoutMS' must be a number of milliseconds, 0 or more, got ${config.shutdownTimeoutMS}`);
    }
    if (config.reconnectSeconds !== undefined && !(typeof config.reconnectSeconds === "number" && config.reconnectSeconds >= 0)) {
      throw new ConfigError(`launch option 'reconnectSeconds' must be a number, 0 or more, got ${config.reconnectSeconds}`);
    }
    checkIdentifier(config.executorID ?? (process.env.STEPWISE_EXECUTOR_ID || undefined), "launch option 'executorID' (or STEPWISE_EXECUTOR_ID)");
    const appUrl = config.applicationDatabaseUrl;
    if (appUrl !== undefined && (typeof appUrl !== "string" || appUrl === "")) {
      throw new ConfigError(
        `launch option 'applicationDatabaseUrl' must be a Postgres connection string; leave it out to use the system database`,
      );
    }
    const driver = url
      ? await openPostgres(url, { maxConnections: config.maxConnections, logger, reconnectSeconds: config.reconnectSeconds })
      : await openPGlite(config.dataDir ?? (process.env.STEPWISE_DATA_DIR || undefined) ?? ".stepwise");
    const sysdb = new SystemDatabase(driver);
    try {
      await sysdb.migrate();
    } catch (error) {
      await sysdb.close().catch(() => {});
      throw error;
    }
    let lock: ProcessLock;
    try {
      lock = url ? await holdProcessLock(url, logger) : embeddedProcessLock();
    } catch (error) {
      await sysdb.close().catch(() => {});
      throw error;
    }
    let appdb: AppDatabase | undefined;
    if (appUrl !== undefined && !(url !== undefined && sameDatabase(appUrl, url))) {
      try {
        appdb = await AppDatabase.open(appUrl, { maxConnections: config.maxConnections });
      } catch (error) {
        await lock.close();
        await sysdb.close().catch(() => {});
        throw error;
      }
      logger.debug(`transactions run on the application database (${appdb.description})`);
    }
    const executorID = config.executorID ?? (process.env.STEPWISE_EXECUTOR_ID || undefined) ?? "local";
    const executor = new Executor(sysdb, executorID, logger, lock);
    executor.appdb = appdb;
    if (config.maxOutputBytes !== undefined) executor.maxOutputBytes = config.maxOutputBytes;
    if (config.shutdownTimeoutMS !== undefined) executor.shutdownTimeoutMS = config.shutdownTimeoutMS;
    try {
      await executor.notifier.listen(driver);
    } catch (error) {
      await executor.shutdown().catch(() => {});
      throw error;
    }
    return executor;
  }

  /**
   * A graceful drain, then close: takes no new work at once, stops every run here at its
   * next durable operation (it stays PENDING, nothing recorded as its outcome), lets the
   * steps executing now finish and record for up to shutdownTimeoutMS, then closes the
   * databases and releases the process lock. Calling it again waits for the same close.
   */
  shutdown(): Promise<void> {
    this.closing ??= this.drainAndClose();
    return this.closing;
  }

  private async drainAndClose(): Promise<void> {
    this.stopping = true;
    this.stopRuns((workflowID) => new ShutdownError(workflowID));
    for (const listener of this.stopListeners) listener();
    const deadline = Date.now() + this.shutdownTimeoutMS;
    try {
      for (const stop of this.stopHooks.splice(0)) await stop();
      await this.drain(deadline);
    } finally {
      this.closed = true;
      for (const disarm of this.deadlines) disarm();
      try {
        await this.appdb?.close();
      } finally {
        try {
          await this.sysdb.close();
        } finally {
          await this.lock.close();
        }
      }
    }
  }

  /** Waits until no run and no step executes here, or the deadline passes. */
  private async drain(deadline: number): Promise<void> {
    while (this.running.size + this.executing.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.logger.warn(
          `shutdown: ${this.running.size} run(s) and ${this.executing.size} step(s) still executing after shutdownTimeoutMS ` +
            `(${this.shutdownTimeoutMS} ms); the runs stay PENDING, and a step whose outcome was not recorded runs again when its run resumes`,
        );
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const settled = [...this.running.values()].map((entry) => entry.promise).concat([...this.executing]);
      await Promise.race([Promise.allSettled(settled), new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
  }
}

let current: Executor | undefined;

export function setExecutor(executor: Executor | undefined): void {
  current = executor;
}

export function currentExecutor(): Executor | undefined {
  return current;
}

export function requireExecutor(): Executor {
  if (!current) {
    throw new StepwiseError(
      "Stepwise is not launched: call `await Stepwise.launch()` before running a workflow.",
    );
  }
  return current;
}
