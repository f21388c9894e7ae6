/**
 * Workflows by ID, so recovery can call a recorded run's function again. Filled at
 * module load: by the `workflow(...)` marker, and by `__stepwise.register` calls the
 * compiler emits after tagged declarations and classes.
 */
import type { WorkflowConfig } from "./config.js";
import { ConfigError } from "./errors.js";

export type AnyFunction = (...args: never[]) => unknown;

export interface RegisteredWorkflow {
  name: string;
  fn: AnyFunction;
  thisArg: unknown;
  config: WorkflowConfig;
}

/** Set by a host whose server process may evaluate a module twice (stepwise/vite's dev server, stepwise/next). */
export const REREGISTER = Symbol.for("stepwise.reregister");

const byName = new Map<string, RegisteredWorkflow>();
const byFunction = new WeakMap<AnyFunction, RegisteredWorkflow>();

export function registerWorkflow(name: string, fn: AnyFunction, thisArg: unknown, config: WorkflowConfig): void {
  const existing = byName.get(name);
  // Where one module is legitimately evaluated twice (a dev server's hot update, Next.js's
  // instrumentation and route bundles each with their own copy), the later function takes
  // the ID; the compile-time rule SW1006 still reports two definitions of one ID.
  if (existing && existing.fn !== fn && !(globalThis as Record<symbol, unknown>)[REREGISTER]) {
    throw new ConfigError(
      `Two workflows are registered as '${name}'. Each workflow needs its own ID: rename one, ` +
        `or give it an explicit { name } in its config.`,
    );
  }
  const entry = { name, fn, thisArg, config };
  byName.set(name, entry);
  byFunction.set(fn, entry);
}

export function workflowByName(name: string): RegisteredWorkflow | undefined {
  return byName.get(name);
}

export function workflowOf(fn: unknown): RegisteredWorkflow | undefined {
  return typeof fn === "function" ? byFunction.get(fn as AnyFunction) : undefined;
}

export function registeredWorkflowNames(): string[] {
  return [...byName.keys()];
}
