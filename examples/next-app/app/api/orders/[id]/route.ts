/**
 *   POST /api/orders/:id?sku=sku-1&qty=2   runs the fulfil workflow under the order ID (an
 *                                          idempotency key: posting again returns the recorded result)
 *   GET  /api/orders/:id                   the run's status and its steps
 */
import { Stepwise } from "stepwise";
import { fulfil } from "../../../../lib/orders";

export const dynamic = "force-dynamic";

type Params = { params: Promise<{ id: string }> };

export async function POST(request: Request, { params }: Params): Promise<Response> {
  const { id } = await params;
  const url = new URL(request.url);
  const handle = await Stepwise.startWorkflow(fulfil, { workflowID: id })(id, url.searchParams.get("sku") ?? "sku-1", Number(url.searchParams.get("qty") ?? 1));
  return Response.json(await handle.getResult());
}

export async function GET(_request: Request, { params }: Params): Promise<Response> {
  const { id } = await params;
  const status = await Stepwise.getWorkflowStatus(id);
  if (!status) return Response.json({ error: `no order ${id}` }, { status: 404 });
  const steps = await Stepwise.listWorkflowSteps(id);
  return Response.json({ status: status.status, steps: steps.map((s) => s.stepID) });
}
