/**
 * The launched runtime: the system database, this process's executor ID, the runs in
 * flight here, and recovery. `Stepwise.launch()` creates the one instance.
 */
import { ConfigError, StepwiseError } from "./errors.js";
import { consoleLogger, type LogLevel, type Logger } from "./logger.js";
import { openPGlite } from "./sysdb/pglite.js";
import { openPostgres } from "./sysdb/pg.js";
import { SystemDatabase } from "./sysdb/system-database.js";

export interface LaunchConfig {
  /** A Postgres connection string for the system database. Default: env STEPWISE_DATABASE_URL, else the embedded database. */
  databaseUrl?: string;
  /** Folder of the embedded database (PGlite), used when no databaseUrl is set. Default `./.stepwise`; "memory://" keeps it in memory. */
  dataDir?: string;
  /** This process's executor ID; runs it owns are recovered at launch. Default: env STEPWISE_EXECUTOR_ID, else "local". */
  executorID?: string;
  /** Resume this executor's PENDING runs at launch (default true). */
  recover?: boolean;
  logger?: Logger;
  /** Level of the default logger (default: env STEPWISE_LOG_LEVEL, else "info"). */
  logLevel?: LogLevel;
  /** Size of the Postgres connection pool (default 10). */
  maxConnections?: number;
}

export class Executor {
  /** Result promises of the runs executing in this process, by workflow ID. */
  readonly running = new Map<string, { name: string; promise: Promise<unknown> }>();

  constructor(
    readonly sysdb: SystemDatabase,
    readonly executorID: string,
    readonly logger: Logger,
  ) {}

  static async open(config: LaunchConfig): Promise<Executor> {
    const logger = config.logger ?? consoleLogger(config.logLevel);
    const url = config.databaseUrl ?? process.env.STEPWISE_DATABASE_URL;
    if (config.maxConnections !== undefined && !(Number.isInteger(config.maxConnections) && config.maxConnections > 0)) {
      throw new ConfigError(`launch option 'maxConnections' must be a whole number above 0, got ${config.maxConnections}`);
    }
    const driver = url
      ? await openPostgres(url, { maxConnections: config.maxConnections })
      : await openPGlite(config.dataDir ?? process.env.STEPWISE_DATA_DIR ?? ".stepwise");
    const sysdb = new SystemDatabase(driver);
    try {
      await sysdb.migrate();
    } catch (error) {
      await sysdb.close().catch(() => {});
      throw error;
    }
    const executorID = config.executorID ?? process.env.STEPWISE_EXECUTOR_ID ?? "local";
    return new Executor(sysdb, executorID, logger);
  }

  async shutdown(): Promise<void> {
    await this.sysdb.close();
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
