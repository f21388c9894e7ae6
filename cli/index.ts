#!/usr/bin/env node
/** The `stepwise` command. */
import { Command } from "commander";
import { registerUiCommand } from "./ui.js";
import { registerWorkflowCommands } from "./workflows.js";
import { registerCheckCommand } from "./check.js";
import { registerDataCommands } from "./data.js";
import { printError } from "./terminal.js";

const program = new Command("stepwise")
  .description("Durable steps for TypeScript: inspect and manage workflow runs")
  .option("--database-url <url>", "system database (default: env STEPWISE_DATABASE_URL, else the embedded database); prefer the env var: a command line is visible in ps")
  .option("--data-dir <dir>", "folder of the embedded database (default: ./.stepwise)")
  .showHelpAfterError();

registerWorkflowCommands(program);
registerUiCommand(program);
registerCheckCommand(program);
registerDataCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  printError(`stepwise: ${(error as Error).message}`);
  process.exitCode = 1;
}
