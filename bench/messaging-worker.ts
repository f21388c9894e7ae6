/** A queue worker process for bench/messaging.ts. */
import { Stepwise } from "stepwise";
import "./messaging-jobs.js";

await Stepwise.launch({ logLevel: "error" });
process.stdout.write("ready\n");
process.on("SIGTERM", () => void Stepwise.shutdown().then(() => process.exit(0)));
