/**
 * How values and errors are stored. Values go through superjson, which round-trips
 * Date, Map, Set, BigInt, undefined, RegExp and registered classes. Errors are stored
 * with their class name and own fields, and come back as the same class when that
 * class is one of the runtime's own or was registered with `registerErrorClass`.
 */
import superjson from "superjson";
import { DeserializationError, RUNTIME_ERROR_CLASSES, SerializationError } from "./errors.js";

type ErrorClass = new (...args: never[]) => Error;

const errorClasses = new Map<string, ErrorClass>();
const BUILTIN_ERROR_CLASSES: Record<string, ErrorClass> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
};
for (const [name, cls] of Object.entries({ ...BUILTIN_ERROR_CLASSES, ...RUNTIME_ERROR_CLASSES })) {
  errorClasses.set(name, cls);
}

/**
 * Makes errors of this class come back from the database as this class. Pass `name`
 * when the code is minified, since a minifier renames classes.
 */
export function registerErrorClass(cls: ErrorClass, name: string = cls.name): void {
  errorClasses.set(name, cls);
}

const registeredClasses = new Set<unknown>();

/** Makes instances of this class round-trip through checkpoints (fields only; methods come from the class). */
export function registerClass(cls: new (...args: never[]) => unknown, name: string = cls.name): void {
  superjson.registerClass(cls as never, name);
  registeredClasses.add(cls);
}

/**
 * Why a value cannot be stored faithfully, or undefined when it can: functions, symbols,
 * promises, weak collections, and instances of unregistered classes with methods would
 * come back as something else. The same things the compiler's SW1004 reports.
 */
export function unserializableReason(value: unknown, path: string, seen = new Set<unknown>()): string | undefined {
  switch (typeof value) {
    case "function":
      return `${path} is a function`;
    case "symbol":
      return `${path} is a symbol`;
    case "object": {
      if (value === null || seen.has(value)) return undefined;
      seen.add(value);
      if (value instanceof Promise || typeof (value as { then?: unknown }).then === "function") return `${path} is a promise`;
      if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
        return `${path} is a ${value.constructor.name}, which cannot be read back`;
      }
      if (value instanceof Error || value instanceof Date || value instanceof RegExp) return undefined;
      if (value instanceof Map) {
        for (const [k, v] of value) {
          const reason = unserializableReason(k, `${path} key`, seen) ?? unserializableReason(v, `${path}.get(${String(k)})`, seen);
          if (reason) return reason;
        }
        return undefined;
      }
      if (value instanceof Set) {
        for (const v of value) {
          const reason = unserializableReason(v, `${path} element`, seen);
          if (reason) return reason;
        }
        return undefined;
      }
      if (ArrayBuffer.isView(value)) return undefined;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const reason = unserializableReason(value[i], `${path}[${i}]`, seen);
          if (reason) return reason;
        }
        return undefined;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null && !registeredClasses.has(proto.constructor)) {
        const methods = Object.getOwnPropertyNames(proto).filter((k) => k !== "constructor");
        if (methods.length > 0) {
          return `${path} is an instance of class ${proto.constructor?.name ?? "(anonymous)"}, whose methods would be lost; register it with Stepwise.registerClass or store plain data`;
        }
      }
      for (const [k, v] of Object.entries(value)) {
        const reason = unserializableReason(v, `${path}.${k}`, seen);
        if (reason) return reason;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** serialize, refusing values that would not come back as they went in. */
export function serializeStrict(value: unknown, what: string): string {
  const reason = unserializableReason(value, what);
  if (reason) throw new SerializationError(`SW1004: cannot store ${what}: ${reason}. Pass plain data instead.`);
  return serialize(value, what);
}

const ERROR_MARK = "$stepwiseError";

interface EncodedError {
  [ERROR_MARK]: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
}

/** Replaces every Error inside a value by a plain encoded object, so superjson keeps its class and fields. */
function encodeErrors(value: unknown, seen = new Set<unknown>()): unknown {
  if (value instanceof Error) {
    if (seen.has(value)) return { [ERROR_MARK]: value.name, message: value.message, fields: {} };
    seen.add(value);
    const fields: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      if (key === "name" || key === "message" || key === "stack") continue;
      fields[key] = encodeErrors((value as unknown as Record<string, unknown>)[key], seen);
    }
    if ("cause" in value && value.cause !== undefined && !("cause" in fields)) {
      fields.cause = encodeErrors(value.cause, seen);
    }
    const className = registeredNameOf(value);
    const encoded: EncodedError = { [ERROR_MARK]: className, message: value.message, fields };
    if (value.stack) encoded.stack = value.stack;
    fields.name = value.name;
    return encoded;
  }
  if (Array.isArray(value)) return value.map((v) => encodeErrors(v, seen));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = encodeErrors(v, seen);
    return out;
  }
  return value;
}

function registeredNameOf(error: Error): string {
  for (const [name, cls] of errorClasses) {
    if (error.constructor === cls) return name;
  }
  return error.constructor?.name || error.name || "Error";
}

function decodeErrors(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeErrors);
  if (isPlainObject(value)) {
    if (typeof value[ERROR_MARK] === "string") return decodeError(value as unknown as EncodedError);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = decodeErrors(v);
    return out;
  }
  return value;
}

function decodeError(encoded: EncodedError): Error {
  const cls = errorClasses.get(encoded[ERROR_MARK]) ?? Error;
  // Built without its constructor: constructors may demand arguments we no longer have.
  const error = Object.create(cls.prototype) as Error;
  Object.defineProperty(error, "message", { value: encoded.message, writable: true, configurable: true, enumerable: false });
  if (encoded.stack) {
    Object.defineProperty(error, "stack", { value: encoded.stack, writable: true, configurable: true, enumerable: false });
  }
  for (const [k, v] of Object.entries(encoded.fields)) {
    (error as unknown as Record<string, unknown>)[k] = decodeErrors(v);
  }
  return error;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * True when JSON alone round-trips the value: no undefined, BigInt, Date, Map, Set,
 * class instance, error, non-finite number or -0 anywhere in it. Such values (most step
 * results) skip superjson's walk; the stored text is what superjson would write.
 */
function isPlainJSON(value: unknown, depth = 0): boolean {
  // A cycle (or absurd depth) is left to the full path, which names where it closes.
  if (depth > MAX_PLAIN_DEPTH) return false;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainJSON(value[i], depth + 1)) return false;
        return true;
      }
      if (!isPlainObject(value)) return false;
      for (const key in value) if (!isPlainJSON(value[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

const MAX_PLAIN_DEPTH = 200;

/** Stores a value; `what` names it in the SerializationError for a value with a cycle. */
export function serialize(value: unknown, what = "the value"): string {
  if (isPlainJSON(value)) return `{"json":${JSON.stringify(value)}}`;
  const cycle = cycleIn(value, "value", new Map());
  if (cycle) {
    throw new SerializationError(
      `SW1004: ${what} cannot be stored: ${cycle}, a cycle, which stored data cannot hold. Store plain data without cycles (an ID instead of the back reference).`,
    );
  }
  return superjson.stringify(encodeErrors(value));
}

/**
 * Where a value refers back to one that contains it, or undefined when it does not.
 * Errors may refer to themselves (a cause loop): encodeErrors cuts those.
 */
function cycleIn(value: unknown, path: string, ancestors: Map<object, string>): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const above = ancestors.get(value);
  if (above !== undefined) return value instanceof Error ? undefined : `${path} refers back to ${above}`;
  ancestors.set(value, path);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const found = cycleIn(value[i], `${path}[${i}]`, ancestors);
        if (found) return found;
      }
    } else if (value instanceof Map) {
      for (const [k, v] of value) {
        const found = cycleIn(k, `${path} key`, ancestors) ?? cycleIn(v, `${path}.get(${String(k)})`, ancestors);
        if (found) return found;
      }
    } else if (value instanceof Set) {
      for (const v of value) {
        const found = cycleIn(v, `${path} element`, ancestors);
        if (found) return found;
      }
    } else if (value instanceof Error || isPlainObject(value)) {
      for (const [k, v] of Object.entries(value)) {
        const found = cycleIn(v, `${path}.${k}`, ancestors);
        if (found) return found;
      }
      if (value instanceof Error && value.cause !== undefined) return cycleIn(value.cause, `${path}.cause`, ancestors);
    }
    return undefined;
  } finally {
    ancestors.delete(value);
  }
}

/** Reads back a stored value; `where` names the row for the error message. */
export function deserialize(text: string | null | undefined, where: string): unknown {
  if (text === null || text === undefined) return undefined;
  try {
    const envelope = JSON.parse(text) as { json: unknown; meta?: unknown };
    const value = envelope.meta === undefined ? envelope.json : superjson.deserialize(envelope as never);
    return text.includes(ERROR_MARK) ? decodeErrors(value) : value;
  } catch (cause) {
    throw new DeserializationError(
      `Cannot read the value recorded for ${where}: ${(cause as Error).message}. ` +
        `The row was left as it is; fix or remove it by hand, then resume the workflow.`,
      { cause },
    );
  }
}

export function serializeError(error: unknown): string {
  return serialize(error instanceof Error ? error : new Error(String(error)));
}

export function deserializeError(text: string, where: string): Error {
  const value = deserialize(text, where);
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * serialize, refusing a value whose stored form is larger than `maxBytes`: a clear
 * error where the value is produced beats a database error (or a bloated table) later.
 */
export function serializeBounded(value: unknown, maxBytes: number, what: string): string {
  // SW1004 at run time, for what the compiler did not see: a function, symbol, promise or
  // class instance would come back as something else on replay. Plain JSON holds none.
  if (!isPlainJSON(value)) {
    const reason = unserializableReason(value, "result");
    if (reason) throw new SerializationError(`SW1004: ${what} cannot be stored: ${reason}. Return plain data instead.`);
  }
  const text = serialize(value, what);
  // Characters are cheap to count; bytes only matter near the limit.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > maxBytes) {
      throw new SerializationError(
        `${what} is ${bytes} bytes when stored, more than the limit of ${maxBytes} (launch option maxOutputBytes). ` +
          `Store large data elsewhere and return a reference to it, or raise the limit.`,
      );
    }
  }
  return text;
}
