// A small project built by the end-to-end test with tspc: every tagged form, the
// marker under an alias, and a step that can hold so the test can SIGKILL mid-workflow.
import { appendFileSync, writeFileSync } from "node:fs";
import { step as durable } from "stepwise";

function effect(name: string): void {
  // Each real execution leaves a line; a completed step must never run again.
  appendFileSync("effects.log", `${name}\n`);
}

/** @step */
async function reserve(orderId: string): Promise<string> {
  effect("reserve");
  return `res-${orderId}`;
}

export class Payments {
  /** @step { retriesAllowed: true, maxAttempts: 2, intervalSeconds: 0 } */
  static async charge(orderId: string): Promise<string> {
    effect("charge");
    return `ch-${orderId}`;
  }
}

/** @step */
const hold = async (): Promise<void> => {
  effect("hold");
  if (process.env.SW_HOLD === "1") {
    writeFileSync("held", "");
    await new Promise(() => setInterval(() => {}, 1000)); // until SIGKILL
  }
};

export const notify = durable(async (orderId: string): Promise<string> => {
  effect("notify");
  return `sent-${orderId}`;
});

/** @workflow */
export async function checkout(orderId: string) {
  const reservation = await reserve(orderId);
  const charge = await Payments.charge(orderId);
  await hold();
  const receipt = await notify(orderId);
  return { reservation, charge, receipt };
}

/** @step */
export async function explode(): Promise<never> {
  throw new Error("exploded inside a step"); // EXPLODE_LINE
}
