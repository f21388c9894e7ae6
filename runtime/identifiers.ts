/**
 * The strings that name things in the system database: workflow IDs, step and workflow
 * names, topics, event keys, queue names, deduplication IDs, executor IDs. Each is a
 * key compared byte for byte in Postgres, so a string that the database cannot hold
 * as written is refused where it is given, not turned into another one.
 */
import { ConfigError } from "./errors.js";

/**
 * The longest such string, in UTF-8 bytes. Postgres indexes these columns, and an index
 * entry must fit a third of a page (about 2.7 kB) even when two of them (a workflow ID
 * and a key) share it and do not compress; Temporal's default limit is alike.
 */
export const MAX_IDENTIFIER_BYTES = 1024;

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What is wrong with a string as a name or key, or undefined when nothing is. */
export function identifierProblem(value: string): string | undefined {
  const nul = value.indexOf("\0");
  if (nul !== -1) return `contains a NUL character (at index ${nul}), which Postgres cannot store in text`;
  const lone = LONE_SURROGATE.exec(value);
  if (lone) {
    // Encoding would turn it into U+FFFD, so two different strings would be one key.
    return `is not well-formed Unicode: a lone surrogate \\u${lone[0].charCodeAt(0).toString(16).toUpperCase()} at index ${lone.index}`;
  }
  if (value.length > MAX_IDENTIFIER_BYTES / 3) {
    const bytes = Buffer.byteLength(value, "utf8");
    if (bytes > MAX_IDENTIFIER_BYTES) return `is ${bytes} bytes long in UTF-8; the most is ${MAX_IDENTIFIER_BYTES}`;
  }
  return undefined;
}

/** Throws a ConfigError naming `argument` when `value` is given and is not a usable name or key. */
export function checkIdentifier(value: unknown, argument: string): void {
  if (value === undefined) return;
  if (typeof value !== "string") throw new ConfigError(`${argument} must be a string, got ${value === null ? "null" : typeof value}`);
  const problem = identifierProblem(value);
  if (problem) throw new ConfigError(`${argument} ${problem}.`);
}
