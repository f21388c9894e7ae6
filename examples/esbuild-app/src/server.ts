/**
 * A small order service, bundled and minified by esbuild with the Stepwise plugin
 * (build.mjs beside this folder):
 *
 *   POST /orders/:id?sku=sku-1&qty=2   runs the fulfil workflow under the order ID
 *                                      (an idempotency key: posting it again returns the
 *                                      recorded result and runs nothing)
 *   GET  /orders/:id                   the run's status and its steps
 *
 * The embedded database lives in ./.stepwise (STEPWISE_DATABASE_URL for a Postgres).
 */
import { createServer } from "node:http";
import { Stepwise } from "stepwise";
import { fulfil } from "./orders.js";

const port = Number(process.env.PORT ?? 3000);

await Stepwise.launch({ logLevel: "error" });

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const match = /^\/orders\/([\w.-]+)$/.exec(url.pathname);
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body) + "\n");
  };
  try {
    if (!match) return reply(404, { error: "try POST /orders/<id> or GET /orders/<id>" });
    const orderId = match[1]!;
    if (req.method === "POST") {
      const handle = await Stepwise.startWorkflow(fulfil, { workflowID: orderId })(
        orderId,
        url.searchParams.get("sku") ?? "sku-1",
        Number(url.searchParams.get("qty") ?? 1),
      );
      return reply(200, await handle.getResult());
    }
    if (req.method === "GET") {
      const status = await Stepwise.getWorkflowStatus(orderId);
      if (!status) return reply(404, { error: `no order ${orderId}` });
      const steps = await Stepwise.listWorkflowSteps(orderId);
      return reply(200, { status: status.status, steps: steps.map((s) => s.stepID) });
    }
    return reply(405, { error: "POST or GET" });
  } catch (e) {
    return reply(500, { error: (e as Error).message });
  }
});

server.listen(port, () => {
  const { port: actual } = server.address() as { port: number };
  console.log(`order service on http://localhost:${actual}`);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    server.close();
    void Stepwise.shutdown().then(() => process.exit(0));
  });
}
