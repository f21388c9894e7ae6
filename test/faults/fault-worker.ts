/** The worker the fault suite kills and restarts: dequeues the workload until killed. */
import { Stepwise } from "../../runtime/index.js";
import "./workload.js";

await Stepwise.launch({ logLevel: "silent", reconnectSeconds: 120 });
process.stdout.write("ready\n");
