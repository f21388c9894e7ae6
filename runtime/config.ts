/**
 * The config a step, workflow or transaction accepts, described once as data.
 * The runtime validates a config against it at definition time; the compiler
 * transformer validates a tag's config literal against the same description
 * at compile time, so both report the same keys, types and ranges.
 */
import { identifierProblem } from "./identifiers.js";

export type OperationKind = "step" | "workflow" | "transaction";

export interface StepConfig {
  /** Explicit ID; defaults to the qualified name the compiler assigns. */
  name?: string;
  /** Retry a failing step (default false). */
  retriesAllowed?: boolean;
  /** Attempts in total, counting the first (default 3). */
  maxAttempts?: number;
  /** Seconds before the first retry (default 1). */
  intervalSeconds?: number;
  /** Multiplier applied to the interval after each retry (default 2). */
  backoffRate?: number;
  /** Upper bound on the interval between retries, in seconds (default: none). */
  maxIntervalSeconds?: number;
  /** Per-attempt time limit in milliseconds; the attempt's signal is aborted when it passes. */
  timeoutMS?: number;
}

export interface WorkflowConfig {
  name?: string;
  /** How many times recovery may restart this workflow before it is parked (default 100). */
  maxRecoveryAttempts?: number;
}

export type IsolationLevel = "read committed" | "repeatable read" | "serializable";

export interface TransactionConfig {
  name?: string;
  isolationLevel?: IsolationLevel;
  readOnly?: boolean;
}

export type AnyConfig = StepConfig | WorkflowConfig | TransactionConfig;

/** One key of a config: its type and the values it accepts. */
export type KeySpec =
  | { type: "string"; nonEmpty?: boolean }
  | { type: "boolean" }
  | { type: "number"; integer?: boolean; min?: number; minExclusive?: boolean; finite?: boolean }
  | { type: "enum"; values: readonly string[] };

export const CONFIG_SCHEMA: Record<OperationKind, Record<string, KeySpec>> = {
  step: {
    name: { type: "string", nonEmpty: true },
    retriesAllowed: { type: "boolean" },
    maxAttempts: { type: "number", integer: true, min: 1 },
    intervalSeconds: { type: "number", min: 0 },
    backoffRate: { type: "number", min: 1 },
    maxIntervalSeconds: { type: "number", min: 0, minExclusive: true },
    // Infinity is refused rather than read as "no timeout": leaving the key out says that.
    timeoutMS: { type: "number", min: 0, minExclusive: true, finite: true },
  },
  workflow: {
    name: { type: "string", nonEmpty: true },
    maxRecoveryAttempts: { type: "number", integer: true, min: 1 },
  },
  transaction: {
    name: { type: "string", nonEmpty: true },
    isolationLevel: { type: "enum", values: ["read committed", "repeatable read", "serializable"] },
    readOnly: { type: "boolean" },
  },
};

/** A problem with one key of a config, phrased so it can be shown as is. */
export interface ConfigProblem {
  key: string;
  message: string;
}

/** The closest known key to a misspelt one, for a "did you mean" hint. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** Checks one key's value; returns a message when it is wrong. */
export function checkValue(spec: KeySpec, value: unknown): string | undefined {
  switch (spec.type) {
    case "string":
      if (typeof value !== "string") return `must be a string, got ${describe(value)}`;
      if (spec.nonEmpty && value.length === 0) return "must not be empty";
      return identifierProblem(value);
    case "boolean":
      return typeof value === "boolean" ? undefined : `must be true or false, got ${describe(value)}`;
    case "number": {
      if (typeof value !== "number" || Number.isNaN(value)) return `must be a number, got ${describe(value)}`;
      if (spec.integer && !Number.isInteger(value)) return `must be a whole number, got ${value}`;
      if (spec.finite && !Number.isFinite(value)) return `must be a finite number (leave it out for none), got ${value}`;
      if (spec.min !== undefined) {
        if (spec.minExclusive ? value <= spec.min : value < spec.min) {
          return `must be ${spec.minExclusive ? "greater than" : "at least"} ${spec.min}, got ${value}`;
        }
      }
      return undefined;
    }
    case "enum":
      return typeof value === "string" && spec.values.includes(value)
        ? undefined
        : `must be one of ${spec.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describe(value)}`;
  }
}

/** Every problem with a config object of the given kind. */
export function validateConfig(kind: OperationKind, config: Record<string, unknown>): ConfigProblem[] {
  const schema = CONFIG_SCHEMA[kind];
  const known = Object.keys(schema);
  const problems: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(config)) {
    const spec = schema[key];
    if (!spec) {
      const hint = suggestKey(key, known);
      problems.push({
        key,
        message: `unknown ${kind} option '${key}'${hint ? `; did you mean '${hint}'?` : `; known options: ${known.join(", ")}`}`,
      });
      continue;
    }
    if (value === undefined) continue;
    const message = checkValue(spec, value);
    if (message) problems.push({ key, message: `${kind} option '${key}' ${message}` });
  }
  return problems;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return typeof value;
}
