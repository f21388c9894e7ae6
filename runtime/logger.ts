/**
 * The runtime's logger: leveled, prefixed with the current workflow, and replaceable
 * (`Stepwise.launch({ logger })`). It never logs a step's inputs or outputs.
 */
export interface Logger {
  debug(message: string, ...rest: unknown[]): void;
  info(message: string, ...rest: unknown[]): void;
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export function consoleLogger(level: LogLevel = (process.env.STEPWISE_LOG_LEVEL as LogLevel) || "info"): Logger {
  const threshold = ORDER[level] ?? ORDER.info;
  const emit =
    (at: Exclude<LogLevel, "silent">, write: (...args: unknown[]) => void) =>
    (message: string, ...rest: unknown[]) => {
      if (ORDER[at] >= threshold) write(`[stepwise] ${message}`, ...rest);
    };
  return {
    debug: emit("debug", console.debug),
    info: emit("info", console.info),
    warn: emit("warn", console.warn),
    error: emit("error", console.error),
  };
}

/** A logger that prefixes each line with a tag, e.g. the current workflow ID. */
export function prefixed(logger: Logger, prefix: string): Logger {
  return {
    debug: (m, ...r) => logger.debug(`${prefix} ${m}`, ...r),
    info: (m, ...r) => logger.info(`${prefix} ${m}`, ...r),
    warn: (m, ...r) => logger.warn(`${prefix} ${m}`, ...r),
    error: (m, ...r) => logger.error(`${prefix} ${m}`, ...r),
  };
}
