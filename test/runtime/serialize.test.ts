import superjson from "superjson";
import { describe, expect, test } from "vitest";
import { MaxStepRetriesError, NonRetryableError, DeserializationError } from "stepwise";
import { deserialize, deserializeError, registerErrorClass, serialize, serializeError } from "../../runtime/serialize.js";

const roundTrip = <T>(value: T): T => deserialize(serialize(value), "test") as T;

describe("values", () => {
  test.each([
    ["plain data", { a: 1, b: ["x", true, null], c: { d: 2.5 } }],
    ["a string", "hello"],
    ["null", null],
    ["undefined", undefined],
    ["a Date", new Date("2020-05-06T07:08:09.010Z")],
    ["a Map", new Map<unknown, unknown>([["a", 1], [2, { b: 3 }]])],
    ["a Set", new Set([1, "two"])],
    ["a BigInt", 2n ** 70n],
    ["a RegExp", /^x.*y$/m],
    ["undefined inside", { a: undefined, b: [1, undefined] }],
    ["NaN and Infinity", [NaN, Infinity, -Infinity]],
    ["nested rich values", { when: [new Date(0)], tags: new Set([new Map([["k", 1n]])]) }],
  ])("%s round-trips", (_, value) => {
    expect(roundTrip(value)).toEqual(value);
  });

  test("plain JSON is stored as superjson writes it, so either reader understands the other", () => {
    const value = { a: 1, b: ["x", null] };
    expect(serialize(value)).toBe(superjson.stringify(value));
    expect(superjson.parse(serialize(value))).toEqual(value);
  });

  test("an unreadable row is a DeserializationError naming where it is", () => {
    expect(() => deserialize("{not json", "workflow 'w1', function ID 3")).toThrow(DeserializationError);
    expect(() => deserialize("{not json", "workflow 'w1', function ID 3")).toThrow(/workflow 'w1', function ID 3/);
  });
});

describe("errors", () => {
  class InventoryError extends Error {
    override name = "InventoryError";
    constructor(
      readonly sku: string,
      readonly missing: number,
    ) {
      super(`not enough ${sku}`);
    }
  }

  test("a registered class comes back as itself with its fields", () => {
    registerErrorClass(InventoryError);
    const back = deserializeError(serializeError(new InventoryError("sku-1", 3)), "test");
    expect(back).toBeInstanceOf(InventoryError);
    expect(back).toBeInstanceOf(Error);
    expect(back.message).toBe("not enough sku-1");
    expect(back.name).toBe("InventoryError");
    expect((back as InventoryError).sku).toBe("sku-1");
    expect((back as InventoryError).missing).toBe(3);
    expect(back.stack).toContain("not enough sku-1");
  });

  test("built-in and runtime errors keep their class; an unregistered class becomes an Error with its name", () => {
    expect(deserializeError(serializeError(new TypeError("t")), "test")).toBeInstanceOf(TypeError);
    expect(deserializeError(serializeError(new NonRetryableError("n")), "test")).toBeInstanceOf(NonRetryableError);
    class Unknown extends Error {
      override name = "Unknown";
      readonly detail = 7;
    }
    const back = deserializeError(serializeError(new Unknown("u")), "test");
    expect(back.constructor).toBe(Error);
    expect(back.name).toBe("Unknown");
    expect((back as unknown as { detail: number }).detail).toBe(7);
  });

  test("MaxStepRetriesError keeps every attempt's error, each as its class", () => {
    registerErrorClass(InventoryError);
    const original = new MaxStepRetriesError("reserve", 2, [new InventoryError("a", 1), new TypeError("boom")]);
    const back = deserializeError(serializeError(original), "test") as MaxStepRetriesError;
    expect(back).toBeInstanceOf(MaxStepRetriesError);
    expect(back.stepID).toBe("reserve");
    expect(back.attempts).toBe(2);
    expect(back.errors[0]).toBeInstanceOf(InventoryError);
    expect((back.errors[0] as InventoryError).sku).toBe("a");
    expect(back.errors[1]).toBeInstanceOf(TypeError);
    expect(back.message).toBe(original.message);
  });

  test("a thrown non-error value is stored as an Error", () => {
    expect(deserializeError(serializeError("just a string"), "test").message).toBe("just a string");
  });
});
