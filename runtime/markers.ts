/**
 * The marker functions `step`, `workflow` and `transaction`, and `__stepwise`, the entry
 * points the compiler's rewrite calls. Markers work without the compiler too (plain
 * JavaScript): then `config.name` is required, since a function's run-time name is not
 * a stable ID (a minifier renames it, a bundler moves it).
 */
import { validateConfig, type OperationKind, type StepConfig, type TransactionConfig, type WorkflowConfig } from "./config.js";
import { ConfigError } from "./errors.js";
import { registerWorkflow, type AnyFunction } from "./registry.js";
import { resolveStepConfig, runStep, type ResolvedStepConfig } from "./step.js";
import { runTransaction, resolveTransactionConfig, type ResolvedTransactionConfig } from "./transaction.js";
import { runWorkflow } from "./workflow.js";

type AsyncFunction = (...args: any[]) => Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Validates a config at definition time; throws a ConfigError naming every problem. */
function checked<C extends { name?: string }>(kind: OperationKind, config: C | undefined, fn?: unknown): C & { name: string } {
  if (fn !== undefined && typeof fn !== "function") {
    throw new ConfigError(`${kind}() expects a function as its first argument, got ${fn === null ? "null" : typeof fn}`);
  }
  if (config !== undefined && (config === null || typeof config !== "object")) {
    throw new ConfigError(`${kind}() expects a config object as its second argument`);
  }
  const problems = validateConfig(kind, (config ?? {}) as Record<string, unknown>);
  const name = config?.name;
  if (problems.length) {
    throw new ConfigError(`Invalid ${kind} config${name ? ` for '${name}'` : ""}: ${problems.map((p) => p.message).join("; ")}`);
  }
  if (!name) {
    throw new ConfigError(
      `${kind}() needs { name: "..." } in its config when the code is not built with the Stepwise transformer: ` +
        `the name is the ${kind}'s durable ID. Add a name, or build with tspc or the esbuild plugin.`,
    );
  }
  return config as C & { name: string };
}

/** Marks an async function as a step: checkpointed in a workflow, retried by its policy. */
export function step<F extends AsyncFunction>(fn: F, config?: StepConfig): F {
  const resolved = resolveStepConfig(checked("step", config, fn));
  const wrapped = function (this: unknown, ...args: unknown[]) {
    return runStep(resolved, async () => fn.apply(this, args));
  };
  return named(wrapped, fn, resolved.name) as unknown as F;
}

/** Marks an async function as a workflow: it runs durably and resumes after a crash. */
export function workflow<F extends AsyncFunction>(fn: F, config?: WorkflowConfig): F {
  const { name, ...rest } = checked("workflow", config, fn);
  const wrapped = function (this: unknown, ...args: unknown[]) {
    return runWorkflow(name, args, async () => fn.apply(this, args));
  };
  registerWorkflow(name, wrapped as AnyFunction, undefined, rest);
  return named(wrapped, fn, name) as unknown as F;
}

/** Marks an async function as a transaction: one database transaction, checkpointed in it. */
export function transaction<F extends AsyncFunction>(fn: F, config?: TransactionConfig): F {
  const resolved = resolveTransactionConfig(checked("transaction", config, fn));
  const wrapped = function (this: unknown, ...args: unknown[]) {
    return runTransaction(resolved, async () => fn.apply(this, args));
  };
  return named(wrapped, fn, resolved.name) as unknown as F;
}

function named(wrapped: AnyFunction, fn: AnyFunction, id: string): AnyFunction {
  Object.defineProperty(wrapped, "name", { value: fn.name || id });
  return wrapped;
}

// Configs resolved once per ID: the compiled body wrap passes its literal on every call.
const stepConfigs = new Map<string, ResolvedStepConfig>();
const transactionConfigs = new Map<string, ResolvedTransactionConfig>();

/**
 * What the compiler's rewrite calls. Not for hand-written code: use the markers.
 * @internal
 */
export const __stepwise = {
  step,
  workflow,
  transaction,
  /** The whole body of a tagged function declaration or method. */
  run(
    kind: OperationKind,
    config: { name: string } & Record<string, unknown>,
    _thisArg: unknown,
    args: ArrayLike<unknown>,
    body: () => Promise<unknown>,
  ): Promise<unknown> {
    switch (kind) {
      case "step": {
        let resolved = stepConfigs.get(config.name);
        if (!resolved) stepConfigs.set(config.name, (resolved = resolveStepConfig(checked("step", config))));
        return runStep(resolved, body);
      }
      case "workflow":
        return runWorkflow(config.name, args, body);
      case "transaction": {
        let resolved = transactionConfigs.get(config.name);
        if (!resolved) {
          transactionConfigs.set(config.name, (resolved = resolveTransactionConfig(checked("transaction", config))));
        }
        return runTransaction(resolved, body);
      }
    }
  },
  /** Makes a tagged workflow findable by its ID for recovery. */
  register(kind: OperationKind, name: string, fn: AnyFunction, thisArg?: unknown, config?: WorkflowConfig): void {
    if (kind !== "workflow") return;
    const { name: _ignored, ...rest } = checked("workflow", { ...config, name });
    registerWorkflow(name, fn, thisArg, rest);
  },
};
