/**
 * Strings the database cannot hold as written: lone surrogates (which encoding turns
 * into U+FFFD, so two IDs would be one run), NUL, IDs over the documented maximum,
 * cyclic values, and queue names longer than a NOTIFY payload.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { ConfigError, MAX_IDENTIFIER_BYTES, Queue, SerializationError, Stepwise, step, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";
import { launchedOn } from "../helpers/launched.js";
import { requireExecutor } from "../../runtime/executor.js";

let runs = 0;
const counted = step(async (n: number) => (runs++, n), { name: "strings.counted" });
const echo = workflow(async (n: number) => counted(n), { name: "strings.echo" });

const cyclicResult = step(
  async () => {
    const order: Record<string, unknown> = { id: 1, lines: [{ sku: "a" }] };
    (order.lines as Record<string, unknown>[])[0]!.order = order;
    return order;
  },
  { name: "strings.cyclicResult" },
);
const returnsCycle = workflow(async () => {
  try {
    await cyclicResult();
    return "stored";
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}, { name: "strings.returnsCycle" });
const takesInput = workflow(async (_input: unknown) => "ran", { name: "strings.takesInput" });

const chatty = workflow(
  async (topic: string, key: string) => {
    const message = await Stepwise.recv<string>(topic, 10);
    await Stepwise.setEvent(key, message);
    return message;
  },
  { name: "strings.chatty" },
);

/** The error a call throws or rejects with (startWorkflow checks its options before it returns). */
const errorOf = (call: () => unknown): Promise<unknown> => Promise.resolve().then(call).then(() => undefined, (e) => e);

const longQueue = new Queue(`q-${"é".repeat((MAX_IDENTIFIER_BYTES - 2) / 2)}`);

describe.each(databases)("malformed strings on $name", (database) => {
  const { id } = launchedOn(database);

  test("IDs differing only in a lone surrogate are refused, not merged into the U+FFFD one", async () => {
    const base = id("run");
    expect(await Stepwise.startWorkflow(echo, { workflowID: `${base}-\uFFFD` })(1).then((h) => h.getResult())).toBe(1);
    for (const lone of ["\uD800", "\uDC00"]) {
      const error = (await errorOf(() => Stepwise.startWorkflow(echo, { workflowID: `${base}-${lone}` })(2))) as Error;
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain("workflowID");
      expect(error.message).toContain("lone surrogate");
    }
    expect(() => Stepwise.retrieveWorkflow(`${base}-\uD800`)).toThrow(ConfigError);
  });

  test("NUL in an ID, topic, key, queue or deduplication ID is a ConfigError naming the argument", async () => {
    const cases: [string, () => Promise<unknown>][] = [
      ["workflowID", () => Stepwise.startWorkflow(echo, { workflowID: "a\0b" })(1)],
      ["queue", () => Stepwise.startWorkflow(echo, { queue: "q\0" })(1)],
      ["deduplicationID", () => Stepwise.startWorkflow(echo, { queue: longQueue, deduplicationID: "d\0" })(1)],
      ["destinationID", () => Stepwise.send("x\0", "m")],
      ["topic", () => Stepwise.send(id("dest"), "m", "t\0")],
      ["key", () => Stepwise.getEvent(id("w"), "k\0", 0)],
    ];
    for (const [argument, call] of cases) {
      const error = (await errorOf(call)) as Error;
      expect(error, argument).toBeInstanceOf(ConfigError);
      expect(error.message, argument).toContain(argument);
      expect(error.message, argument).toContain("NUL");
    }
    expect(() => new Queue("bad\0queue")).toThrow(ConfigError);
  });

  test("a NUL in a step's name is refused at definition", () => {
    expect(() => step(async () => 1, { name: "a\0b" })).toThrow(/option 'name' contains a NUL character/);
    expect(() => workflow(async () => 1, { name: "w\uD800" })).toThrow(/option 'name' is not well-formed/);
  });

  test(`IDs, topics and keys up to ${MAX_IDENTIFIER_BYTES} bytes are data, even incompressible; longer ones a ConfigError`, async () => {
    const random = (bytes: number) => randomBytes(bytes / 2).toString("hex");
    const longest = random(MAX_IDENTIFIER_BYTES);
    const handle = await Stepwise.startWorkflow(chatty, { workflowID: longest })(longest, longest);
    await Stepwise.send(longest, "hello", longest);
    expect(await handle.getResult()).toBe("hello");
    expect(await Stepwise.getEvent(longest, longest, 1)).toBe("hello");

    const error = (await errorOf(() => Stepwise.startWorkflow(echo, { workflowID: "x".repeat(1_000_000) })(1))) as Error;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain(`the most is ${MAX_IDENTIFIER_BYTES}`);
  });

  test("a cyclic step result or workflow input is a SerializationError naming where the cycle closes", async () => {
    const result = await (await Stepwise.startWorkflow(returnsCycle, { workflowID: id("cycle") })()).getResult();
    expect(result).toMatch(/^SerializationError: SW1004: The result of step 'strings.cyclicResult' cannot be stored: value\.lines\[0\]\.order refers back to value, a cycle/);

    const input: Record<string, unknown> = { name: "loop" };
    input.self = input;
    const error = await Stepwise.startWorkflow(takesInput, { workflowID: id("cyclic-input") })(input).catch((e) => e);
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.message).toContain("value[0].self refers back to value[0]");
  });

  test("a queue's notification carries a short fixed-size key, not the queue's name", async () => {
    const payloads: string[] = [];
    await requireExecutor().sysdb.driver.listen("stepwise_queue", (p) => payloads.push(p));
    const handle = await Stepwise.startWorkflow(echo, { workflowID: id("long-queue"), queue: longQueue })(7);
    expect(await handle.getResult()).toBe(7);
    expect(payloads.length).toBeGreaterThan(0);
    for (const p of payloads) expect(p).toMatch(/^[0-9a-f]{32}$/);
  });
});
