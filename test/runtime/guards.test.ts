/**
 * The run-time guards behind the compile-time rules, for code the compiler cannot see
 * (plain JavaScript, dynamic calls): each misuse throws a StepwiseError whose message
 * starts with the rule's code, instead of misbehaving.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Queue, SerializationError, Stepwise, StepwiseError, step, transaction, workflow } from "stepwise";
import { databases } from "../helpers/databases.js";

const child = workflow(async (x: string) => x, { name: "guards.child" });
const debit = transaction(async (x: string) => x, { name: "guards.debit" });
const jobs = new Queue("guards.jobs");

/** Runs `body` as a step (or transaction) of a fresh workflow and returns what it threw. */
const misuses: Record<string, () => Promise<unknown>> = {
  "workflow call": () => child("x"),
  "transaction call": () => debit("x"),
  "Stepwise.startWorkflow": () => Stepwise.startWorkflow(child)("x"),
  "enqueue (startWorkflow with a queue)": () => Stepwise.startWorkflow(child, { queue: jobs })("x"),
  "Stepwise.send": () => Stepwise.send("nobody", "hi"),
  "Stepwise.recv": () => Stepwise.recv("topic", 0),
  "Stepwise.setEvent": () => Stepwise.setEvent("k", "v"),
  "Stepwise.getEvent": () => Stepwise.getEvent("nobody", "k", 0),
  "Stepwise.sleep": () => Stepwise.sleep(1),
  // A dynamic call, as plain JavaScript might make it: no compiler sees this one.
  "a dynamic call of send": () => (Stepwise as unknown as Record<string, (...a: unknown[]) => Promise<void>>)[["se", "nd"].join("")]!("nobody", "hi"),
};
const rule = (name: string) => (/workflow|enqueue|transaction/i.test(name) ? "SW1001" : "SW1002");

const inStep = Object.fromEntries(Object.entries(misuses).map(([k, body], i) => [k, step(body, { name: `guards.step${i}` })]));
const inTx = Object.fromEntries(Object.entries(misuses).map(([k, body], i) => [k, transaction(body, { name: `guards.tx${i}` })]));
const stepInTx = transaction(async () => step(async () => 1, { name: "guards.inner" })(), { name: "guards.stepInTx" });
const nowInTx = transaction(async () => Stepwise.now(), { name: "guards.nowInTx" });

const attempt = workflow(
  async (kind: "step" | "transaction", name: string) => {
    const fn = name === "step in transaction" ? stepInTx : name === "Stepwise.now in transaction" ? nowInTx : (kind === "step" ? inStep : inTx)[name]!;
    return fn().then(
      () => "ran",
      (error: Error) => `${error instanceof StepwiseError ? "StepwiseError" : error.name}: ${error.message}`,
    );
  },
  { name: "guards.attempt" },
);

// SW1004 at run time: values the serializer cannot round-trip.
const returnsFunction = step(async () => ({ customer: { save: () => 1 } }), { name: "guards.returnsFunction" });
const returnsSymbol = workflow(async () => ({ tag: Symbol("t") }), { name: "guards.returnsSymbol" });
const takesCallback = workflow(async (_cb: unknown) => 1, { name: "guards.takesCallback" });
const stepFlow = workflow(async () => returnsFunction(), { name: "guards.stepFlow" });

describe.each(databases)("run-time guards on $name", (database) => {
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const created = await database.create();
    cleanup = created.cleanup;
    await Stepwise.launch({ ...created, logLevel: "silent", listenQueues: [] });
  });
  afterAll(async () => {
    await Stepwise.shutdown();
    await cleanup();
  });

  describe.each(["step", "transaction"] as const)("inside a %s", (kind) => {
    test.each(Object.keys(misuses))("%s throws a StepwiseError naming the rule", async (name) => {
      const outcome = await attempt(kind, name);
      expect(outcome).toMatch(new RegExp(`^StepwiseError: ${rule(name)}: .* inside ${kind} 'guards\\.(step|tx)\\d+'`));
    });
  });

  test("a step (or Stepwise.now, a step) inside a transaction is SW1001", async () => {
    expect(await attempt("transaction", "step in transaction")).toMatch(/^StepwiseError: SW1001: step 'guards.inner' was called inside transaction 'guards.stepInTx'/);
    expect(await attempt("transaction", "Stepwise.now in transaction")).toMatch(/^StepwiseError: SW1001: step 'Stepwise.now' was called inside transaction 'guards.nowInTx'/);
  });

  test("SW1004: a step result with a function fails the step, naming the path", async () => {
    const error = await stepFlow().then(() => undefined, (e: Error) => e);
    expect(error).toBeInstanceOf(SerializationError);
    expect(error!.message).toBe("SW1004: The result of step 'guards.returnsFunction' cannot be stored: result.customer.save is a function. Return plain data instead.");
  });

  test("SW1004: a workflow result with a symbol, a workflow input with a function, a message with a function", async () => {
    await expect(returnsSymbol()).rejects.toThrow(/^SW1004: The result of workflow 'guards.returnsSymbol' cannot be stored: result.tag is a symbol/);
    await expect(takesCallback(() => 1)).rejects.toThrow(/^SW1004: cannot store the inputs of workflow 'guards.takesCallback': .*\[0\] is a function/);
    await expect(Stepwise.send("nobody", { cb: () => 1 })).rejects.toThrow(/^SW1004: cannot store the message: the message.cb is a function/);
  });
});
