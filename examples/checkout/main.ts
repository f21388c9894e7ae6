/**
 * An order checkout: reserve stock, charge the card (the payment provider fails twice,
 * and the step's retries get it through), send a receipt. Run it twice: the second run
 * with the same order ID executes nothing and prints the recorded result.
 *
 * The functions are plain TypeScript tagged `@step` and `@workflow`; `npm run build`
 * compiles them with tspc and the Stepwise transformer (examples/tsconfig.json), which
 * turns them into durable calls with the IDs reserveStock, chargeCard, sendReceipt and
 * checkout.
 *
 *   npm start                    # order-1001 on the embedded database in ./.stepwise
 *   ORDER_ID=order-1002 npm start
 */
import { Stepwise } from "stepwise";

let paymentCalls = 0;

/** @step */
async function reserveStock(sku: string, qty: number): Promise<string> {
  const reservation = `res-${sku}-${qty}`;
  console.log(`  ✓ reserveStock   reserved ${qty} x ${sku} (${reservation})`);
  return reservation;
}

/** @step { retriesAllowed: true, maxAttempts: 5, intervalSeconds: 0.2, backoffRate: 2 } */
async function chargeCard(orderId: string, cents: number): Promise<{ chargeId: string }> {
  paymentCalls++;
  if (paymentCalls <= 2) {
    console.log(`  ✗ chargeCard     payment provider timed out (attempt ${Stepwise.stepStatus?.currentAttempt})`);
    throw new Error("payment provider timed out");
  }
  const chargeId = `ch_${orderId}`;
  console.log(`  ✓ chargeCard     charged ${(cents / 100).toFixed(2)} USD (${chargeId}, attempt ${Stepwise.stepStatus?.currentAttempt})`);
  return { chargeId };
}

/** @step */
async function sendReceipt(orderId: string, chargeId: string): Promise<string> {
  console.log(`  ✓ sendReceipt    receipt for ${orderId} sent (${chargeId})`);
  return `receipt-${orderId}`;
}

/** @workflow */
async function checkout(orderId: string) {
  const reservation = await reserveStock("sku-1", 2);
  const { chargeId } = await chargeCard(orderId, 1999);
  const receipt = await sendReceipt(orderId, chargeId);
  return { orderId, reservation, chargeId, receipt };
}

const orderId = process.env.ORDER_ID ?? "order-1001";
await Stepwise.launch({ logLevel: "error" });
try {
  const before = await Stepwise.getWorkflowStatus(orderId);
  console.log(
    before?.status === "SUCCESS"
      ? `Checkout ${orderId} already ran: nothing is executed again, the recorded result is returned.`
      : `Checkout ${orderId}:`,
  );
  const handle = await Stepwise.startWorkflow(checkout, { workflowID: orderId })(orderId);
  const result = await handle.getResult();
  console.log(`Result: ${JSON.stringify(result)}`);
  const steps = await Stepwise.listWorkflowSteps(orderId);
  console.log(`Recorded steps: ${steps.map((s) => `${s.functionID}:${s.stepID} (${s.attempts} attempt${s.attempts === 1 ? "" : "s"})`).join(", ")}`);
  if (before?.status !== "SUCCESS") console.log(`Run \`npm start\` again: the same order ID executes nothing.`);
} finally {
  await Stepwise.shutdown();
}
