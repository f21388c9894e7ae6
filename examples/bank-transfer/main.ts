/**
 * A bank transfer: move money between two accounts and write a ledger row in one
 * database transaction, then notify the customer in a step. The transaction's writes
 * and its checkpoint commit together, so the transfer happens exactly once even if the
 * process dies right after it; the notification is an ordinary step (at least once).
 * Run it twice: the second run with the same transfer ID executes nothing.
 *
 *   npm run build && node dist/examples/bank-transfer/main.js
 *   TRANSFER_ID=transfer-2 node dist/examples/bank-transfer/main.js
 *   APP_DATABASE_URL=postgres://... node dist/examples/bank-transfer/main.js   # tables in another database
 */
import { Stepwise, step, transaction, workflow } from "stepwise";

/** Creates the example's tables and opens two accounts; outside a workflow, a transaction just runs. */
const openAccounts = transaction(
  async () => {
    await Stepwise.sql.query(`CREATE TABLE IF NOT EXISTS accounts (id text PRIMARY KEY, cents bigint NOT NULL)`);
    await Stepwise.sql.query(
      `CREATE TABLE IF NOT EXISTS ledger (transfer_id text PRIMARY KEY, from_id text NOT NULL, to_id text NOT NULL, cents bigint NOT NULL)`,
    );
    await Stepwise.sql.query(`INSERT INTO accounts VALUES ('alice', 100000), ('bob', 0) ON CONFLICT (id) DO NOTHING`);
  },
  { name: "openAccounts" },
);

/** Debit, credit and the ledger row: all of it commits, or none of it does. */
const transfer = transaction(
  async (transferId: string, from: string, to: string, cents: number) => {
    const debited = await Stepwise.sql.query<{ cents: string }>(
      `UPDATE accounts SET cents = cents - $2 WHERE id = $1 AND cents >= $2 RETURNING cents`,
      [from, cents],
    );
    // Throwing rolls the whole transaction back; the error is checkpointed like a step's.
    if (debited.rowCount !== 1) throw new Error(`insufficient funds in ${from}`);
    await Stepwise.sql.query(`UPDATE accounts SET cents = cents + $2 WHERE id = $1`, [to, cents]);
    await Stepwise.sql.query(`INSERT INTO ledger (transfer_id, from_id, to_id, cents) VALUES ($1, $2, $3, $4)`, [
      transferId,
      from,
      to,
      cents,
    ]);
    console.log(`  ✓ transfer       moved ${(cents / 100).toFixed(2)} USD from ${from} to ${to}`);
    return { balance: Number(debited.rows[0]!.cents) };
  },
  { name: "transfer", isolationLevel: "serializable" },
);

/** Not database work: a step. It may run again if the process dies while it runs. */
const notifyCustomer = step(
  async (who: string, transferId: string) => {
    console.log(`  ✓ notifyCustomer told ${who} about ${transferId}`);
    return `notified-${who}`;
  },
  { name: "notifyCustomer" },
);

const payBob = workflow(
  async (transferId: string, cents: number) => {
    const { balance } = await transfer(transferId, "alice", "bob", cents);
    const notice = await notifyCustomer("bob", transferId);
    return { transferId, aliceBalance: balance, notice };
  },
  { name: "payBob" },
);

const transferId = process.env.TRANSFER_ID ?? "transfer-1";
await Stepwise.launch({ logLevel: "error", applicationDatabaseUrl: process.env.APP_DATABASE_URL || undefined });
try {
  await openAccounts();
  const before = await Stepwise.getWorkflowStatus(transferId);
  console.log(
    before?.status === "SUCCESS"
      ? `Transfer ${transferId} already ran: nothing is executed again, the recorded result is returned.`
      : `Transfer ${transferId}:`,
  );
  const result = await (await Stepwise.startWorkflow(payBob, { workflowID: transferId })(transferId, 2500)).getResult();
  console.log(`Result: ${JSON.stringify(result)}`);
  const steps = await Stepwise.listWorkflowSteps(transferId);
  console.log(`Recorded: ${steps.map((s) => `${s.functionID}:${s.stepID}`).join(", ")}`);
} finally {
  await Stepwise.shutdown();
}
