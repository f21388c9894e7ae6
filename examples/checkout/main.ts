/**
 * An order checkout: reserve stock, charge the card (the payment provider fails twice,
 * and the step's retries get it through), send a receipt. Run it twice: the second run
 * with the same order ID executes nothing and prints the recorded result.
 *
 *   npm start                    # order-1001 on the embedded database in ./.stepwise
 *   ORDER_ID=order-1002 npm start
 */
import { Stepwise, step, workflow } from "stepwise";

let paymentCalls = 0;

const reserveStock = step(
  async (sku: string, qty: number) => {
    const reservation = `res-${sku}-${qty}`;
    console.log(`  ✓ reserveStock   reserved ${qty} x ${sku} (${reservation})`);
    return reservation;
  },
  { name: "reserveStock" },
);

const chargeCard = step(
  async (orderId: string, cents: number) => {
    paymentCalls++;
    if (paymentCalls <= 2) {
      console.log(`  ✗ chargeCard     payment provider timed out (attempt ${Stepwise.stepStatus?.currentAttempt})`);
      throw new Error("payment provider timed out");
    }
    const chargeId = `ch_${orderId}`;
    console.log(`  ✓ chargeCard     charged ${(cents / 100).toFixed(2)} USD (${chargeId}, attempt ${Stepwise.stepStatus?.currentAttempt})`);
    return { chargeId };
  },
  { name: "chargeCard", retriesAllowed: true, maxAttempts: 5, intervalSeconds: 0.2, backoffRate: 2 },
);

const sendReceipt = step(
  async (orderId: string, chargeId: string) => {
    console.log(`  ✓ sendReceipt    receipt for ${orderId} sent (${chargeId})`);
    return `receipt-${orderId}`;
  },
  { name: "sendReceipt" },
);

const checkout = workflow(
  async (orderId: string) => {
    const reservation = await reserveStock("sku-1", 2);
    const { chargeId } = await chargeCard(orderId, 1999);
    const receipt = await sendReceipt(orderId, chargeId);
    return { orderId, reservation, chargeId, receipt };
  },
  { name: "checkout" },
);

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
