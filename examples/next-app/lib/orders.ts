/**
 * The durable part of the app: plain TypeScript, tagged. withStepwise (next.config.mjs)
 * compiles the tags in with the IDs reserveStock, Payments.charge, sendReceipt and
 * fulfil, the same IDs every other toolchain gives these sources.
 */
import { Stepwise, step } from "stepwise";

/** @step */
export async function reserveStock(sku: string, qty: number): Promise<string> {
  return `res-${sku}-${qty}`;
}

export class Payments {
  // A flaky provider: the first attempt of every charge times out, the retry succeeds.
  static attempts = new Map<string, number>();

  /** @step { retriesAllowed: true, maxAttempts: 4, intervalSeconds: 0.1 } */
  static async charge(orderId: string, cents: number): Promise<{ chargeId: string; cents: number }> {
    const n = (Payments.attempts.get(orderId) ?? 0) + 1;
    Payments.attempts.set(orderId, n);
    if (n === 1) throw new Error(`payment provider timed out (attempt ${Stepwise.stepStatus?.currentAttempt})`);
    return { chargeId: `ch_${orderId}`, cents };
  }
}

// The marker form: the compiler adds { name: "sendReceipt" }.
export const sendReceipt = step(async (orderId: string, chargeId: string): Promise<string> => `receipt-${orderId}-${chargeId}`);

/** @workflow */
export async function fulfil(orderId: string, sku: string, qty: number) {
  const reservation = await reserveStock(sku, qty);
  const { chargeId, cents } = await Payments.charge(orderId, 1999 * qty);
  const receipt = await sendReceipt(orderId, chargeId);
  return { orderId, reservation, chargeId, cents, receipt };
}
