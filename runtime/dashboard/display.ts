/**
 * Stored values as the dashboard shows them: read back with the runtime's own
 * deserializer, then printed as readable text (Date, Map, Set, BigInt, undefined and
 * errors included, which JSON would flatten or drop). A row that cannot be read is
 * shown as its raw text rather than failing the whole page.
 */
import { deserialize } from "../serialize.js";
import type { Shown, ShownError } from "./types.js";

const MAX_CHARS = 20_000;

/**
 * Past this stored size a value is not read back for a page: reading and printing a
 * 15 MB value blocks the server's event loop for seconds on every poll. The page shows
 * the start of the stored form, and `download` serves all of it, streamed.
 */
export const MAX_READ_CHARS = 256 * 1024;

export function showStored(text: string | null, where: string, download?: string): Shown {
  if (text === null) return { text: "undefined" };
  if (text.length > MAX_READ_CHARS) {
    return { text: `${text.slice(0, MAX_CHARS)}\n...`, raw: true, truncated: true, storedBytes: Buffer.byteLength(text, "utf8"), download };
  }
  try {
    return cap(preview(deserialize(text, where)));
  } catch {
    return { ...cap(text), raw: true };
  }
}

export function showStoredError(text: string, where: string): ShownError {
  let value: unknown;
  try {
    value = deserialize(text, where);
  } catch {
    return { name: "Unreadable", message: cap(text).text };
  }
  return showError(value);
}

export function showError(value: unknown): ShownError {
  if (!(value instanceof Error)) return { name: "Error", message: preview(value) };
  const own: Record<string, unknown> = {};
  for (const key of Object.keys(value)) if (key !== "name" && key !== "message" && key !== "stack") own[key] = (value as never)[key];
  const shown: ShownError = { name: value.name, message: value.message };
  if (value.stack) shown.stack = value.stack;
  if (Object.keys(own).length > 0) shown.fields = cap(preview(own)).text;
  return shown;
}

function cap(text: string): Shown {
  return text.length > MAX_CHARS ? { text: `${text.slice(0, MAX_CHARS)}\n...`, truncated: true } : { text };
}

/** Readable, indented text for any value a checkpoint can hold. */
export function preview(value: unknown, indent = "", seen = new Set<unknown>()): string {
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "bigint":
      return `${value}n`;
    case "string":
      return JSON.stringify(value);
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "boolean":
      return String(value);
    case "symbol":
    case "function":
      return `[${typeof value}]`;
  }
  if (value === null) return "null";
  if (seen.has(value)) return "[circular]";
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : `Date(${value.toISOString()})`;
  if (value instanceof RegExp) return String(value);
  seen.add(value);
  try {
    const inner = `${indent}  `;
    const block = (open: string, items: string[], close: string) =>
      items.length === 0 ? `${open}${close}` : `${open}\n${items.map((item) => `${inner}${item}`).join(",\n")}\n${indent}${close}`;
    if (value instanceof Error) {
      const fields = Object.keys(value)
        .filter((k) => k !== "name" && k !== "message" && k !== "stack")
        .map((k) => `${key(k)}: ${preview((value as never)[k], inner, seen)}`);
      return `${value.name}: ${value.message}${fields.length ? ` ${block("{", fields, "}")}` : ""}`;
    }
    if (value instanceof Map) {
      return block(`Map(${value.size}) {`, [...value].map(([k, v]) => `${preview(k, inner, seen)} => ${preview(v, inner, seen)}`), "}");
    }
    if (value instanceof Set) return block(`Set(${value.size}) {`, [...value].map((v) => preview(v, inner, seen)), "}");
    if (Array.isArray(value)) return block("[", value.map((v) => preview(v, inner, seen)), "]");
    if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength} bytes)`;
    const proto = Object.getPrototypeOf(value);
    const label = proto && proto !== Object.prototype && proto.constructor?.name ? `${proto.constructor.name} ` : "";
    return `${label}${block("{", Object.entries(value as object).map(([k, v]) => `${key(k)}: ${preview(v, inner, seen)}`), "}")}`;
  } finally {
    seen.delete(value);
  }
}

function key(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k);
}
