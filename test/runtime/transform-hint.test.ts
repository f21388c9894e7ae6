import { describe, expect, it } from "vitest";
import { Stepwise } from "stepwise";
import { transformHint, type ProcessFacts } from "../../runtime/transform-hint.js";

const facts = (over: Partial<ProcessFacts>): ProcessFacts => ({ env: {}, execArgv: [], main: "/app/dist/main.js", bun: false, ...over });

describe("a workflow the transformer never rewrote", () => {
  it("startWorkflow says the transformer did not run, and how to add it here (vitest)", () => {
    // What a tagged function is when no transform ran: plain code.
    async function checkout(orderId: string) {
      return orderId;
    }
    expect(() => Stepwise.startWorkflow(checkout)).toThrow(
      /startWorkflow\(\) got checkout, which is not a workflow\. If it is tagged \/\*\* @workflow \*\/, the Stepwise transformer did not run on its file.*under vitest, add plugins: \[stepwise\(\)\] from "stepwise\/vite"/,
    );
  });

  it("names the fix for the toolchain the process was started with", () => {
    expect(transformHint(facts({ execArgv: ["--require", "/p/node_modules/tsx/dist/preflight.cjs", "--import", "file:///p/node_modules/tsx/dist/loader.mjs"], main: "/p/src/app.ts" })))
      .toBe("under tsx, run tsx --import stepwise/register app.ts");
    expect(transformHint(facts({ main: "/p/src/app.ts" }))).toMatch(/^run node --import stepwise\/register app\.ts/);
    expect(transformHint(facts({ main: "/p/dist/app.js" }))).toMatch(/^build with tspc .*stepwise build.*stepwise verify/);
    expect(transformHint(facts({ bun: true }))).toMatch(/stepwise\/bun/);
    expect(transformHint(facts({ env: { NEXT_RUNTIME: "nodejs" } }))).toMatch(/withStepwise/);
    expect(transformHint(facts({ execArgv: ["--import", "stepwise/register"], main: "/p/src/app.ts" }))).toMatch(/node_modules are left alone/);
  });
});
