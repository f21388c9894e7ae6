/** The worker the fault suite kills and restarts: dequeues the workload until killed, or shut down by SIGTERM. */
import { Stepwise } from "../../runtime/index.js";
import "./workload.js";

// As a server's shutdown hook does: drain, then exit.
process.once("SIGTERM", () => {
  void Stepwise.shutdown().finally(() => process.exit(0));
});

await Stepwise.launch({ logLevel: "silent", reconnectSeconds: 120 });
process.stdout.write("ready\n");
