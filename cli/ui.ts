/**
 * `stepwise ui`: the dashboard over a system database, from a shell. Like the other
 * commands it runs no workflow code: resume and fork hand runs to the internal queue,
 * where an executor that has the workflow picks them up.
 */
import type { Command } from "commander";
import { Stepwise } from "../runtime/index.js";
import { print } from "./terminal.js";
import { existingDatabaseOf } from "./connection.js";

export function registerUiCommand(program: Command): void {
  program
    .command("ui")
    .description("serve the dashboard: runs, their step timelines, cancel/resume/fork")
    .option("--port <port>", "port to listen on (0 picks a free one)", "4000")
    .option("--host <host>", "address to listen on; anything but loopback needs a token", "127.0.0.1")
    .option("--token <token>", "required to open the dashboard (default: env STEPWISE_UI_TOKEN); needed off loopback")
    .action(async (opts, command: Command) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got '${opts.port}'`);
      const { databaseUrl, dataDir } = existingDatabaseOf(command);
      const { dashboardAccess, startDashboard } = await import("../runtime/dashboard/server.js");
      // Refused before the database is opened: no token off loopback, a bad port.
      dashboardAccess({ port, host: opts.host, token: opts.token });
      await Stepwise.launch({ databaseUrl, dataDir, recover: false, listenQueues: [], logLevel: "error", executorID: "stepwise-ui" });
      let dashboard;
      try {
        dashboard = await startDashboard({ port, host: opts.host, token: opts.token });
      } catch (error) {
        await Stepwise.shutdown();
        throw error;
      }
      print(`Stepwise dashboard on ${dashboard.url}`);
      if (dashboard.needsToken) {
        // The token is not printed: terminals and CI logs keep what they show.
        print(
          `It needs its token (${opts.token ? "the one given with --token" : "env STEPWISE_UI_TOKEN"}): ` +
            `open ${dashboard.url}?token=<token> once in a browser, or send "Authorization: Bearer <token>".`,
        );
      }
      const stop = async () => {
        await dashboard.close();
        await Stepwise.shutdown();
        process.exit(0);
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
