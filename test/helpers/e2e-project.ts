/**
 * The order service every end-to-end suite builds (tspc, esbuild, the bundlers, the loader,
 * `stepwise build`): where its sources are, and what one run of it must record and return,
 * whichever toolchain built it.
 */
import { fileURLToPath } from "node:url";

export const E2E_PROJECT_SRC = fileURLToPath(new URL("../transformer/e2e-project/src", import.meta.url));

export const EXPECTED_STEPS = [
  { functionID: 0, stepID: "reserve" },
  { functionID: 1, stepID: "Payments.charge" },
  { functionID: 2, stepID: "hold" },
  { functionID: 3, stepID: "notify" },
];

export const RESULT = { reservation: "res-o1", charge: "ch-o1", receipt: "sent-o1" };
