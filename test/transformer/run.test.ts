/**
 * The rewritten forms run against the real runtime: an instance step keeps `this`, object
 * literal and static workflows are registered under their qualified IDs and can be
 * started by reference, and the IDs recorded are the compile-time ones.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import ts from "typescript";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Stepwise } from "stepwise";
import { createBeforeTransformer } from "../../transformer/core/index.js";

const SOURCE = `
import { Stepwise, step as durable } from "stepwise";

class Base {
  greet() { return "hi"; }
}

export class Mailer extends Base {
  constructor(private readonly from: string) { super(); }

  /** @step */
  async send(to: string): Promise<string> {
    return \`\${super.greet()} \${this.from}->\${to} (\${arguments.length})\`;
  }
}

export const Payments = {
  rate: 2,
  /** @step { retriesAllowed: true, maxAttempts: 2, intervalSeconds: 0 } */
  async authorize(n: number) {
    return n * this.rate;
  },
  /** @workflow */
  async pay(n: number) {
    const mail = await new Mailer("shop").send("you");
    return { amount: await Payments.authorize(n), mail, id: Stepwise.workflowID };
  },
};

/** @step */
const stamp = async () => "stamped";

export const tally = durable(async (xs: number[]) => xs.reduce((a, b) => a + b, 0));

export class Orders {
  /** @workflow { maxRecoveryAttempts: 3 } */
  static async run(id: string) {
    const s = await stamp();
    const t = await tally([1, 2, 3]);
    return { s, t, id };
  }
}
`;

const dir = join(import.meta.dirname, "../.tmp/run-forms");
let mod: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(async () => {
  const out = ts.transpileModule(SOURCE, {
    fileName: "forms.ts",
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    transformers: { before: [createBeforeTransformer(ts, undefined)] },
  });
  mkdirSync(dir, { recursive: true });
  // Inside the repo, so vitest's alias serves "stepwise" from runtime/ as it does for the test.
  writeFileSync(join(dir, "forms.mjs"), out.outputText);
  mod = await import(join(dir, "forms.mjs"));
  await Stepwise.launch({ dataDir: "memory://", recover: false, logLevel: "warn" });
});

afterAll(async () => {
  await Stepwise.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe("rewritten forms at run time", () => {
  it("an object-literal workflow: started by reference, `this` kept in its steps, qualified IDs recorded", async () => {
    const handle = await Stepwise.startWorkflow(mod.Payments.pay, { workflowID: "pay-1" })(21);
    expect(await handle.getResult()).toEqual({ amount: 42, mail: "hi shop->you (1)", id: "pay-1" });
    const steps = await Stepwise.listWorkflowSteps("pay-1");
    expect(steps.map((s) => s.stepID)).toEqual(["Mailer.send", "Payments.authorize"]);
  });

  it("a static workflow with a const-arrow step and a marker step", async () => {
    const handle = await Stepwise.startWorkflow(mod.Orders.run, { workflowID: "run-1" })("o-9");
    expect(await handle.getResult()).toEqual({ s: "stamped", t: 6, id: "o-9" });
    expect((await Stepwise.listWorkflowSteps("run-1")).map((s) => s.stepID)).toEqual(["stamp", "tally"]);
    expect((await Stepwise.getWorkflowStatus("run-1"))?.name).toBe("Orders.run");
  });
});
