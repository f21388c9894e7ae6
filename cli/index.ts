#!/usr/bin/env node
/** The `stepwise` command. */
import { Command } from "commander";
import { registerUiCommand } from "./ui.js";
import { registerWorkflowCommands } from "./workflows.js";
import { registerCheckCommand } from "./check.js";
import { registerVerifyCommand } from "./verify.js";
import { registerBuildCommand } from "./build.js";
import { readFileSync } from "node:fs";
import { registerDataCommands } from "./data.js";
import { printError } from "./terminal.js";

// The package's own package.json: two folders up when built (dist/cli), one from source.
function packageVersion(): string {
  for (const up of ["../../package.json", "../package.json"]) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as { version: string }).version;
    } catch {
      // not there: try the next
    }
  }
  return "unknown";
}
const version = packageVersion();

const program = new Command("stepwise")
  .description("Durable steps for TypeScript: inspect and manage workflow runs")
  .version(version, "-v, --version", "print the installed Stepwise version")
  .option("--database-url <url>", "system database (default: env STEPWISE_DATABASE_URL, else the embedded database); prefer the env var: a command line is visible in ps")
  .option("--data-dir <dir>", "folder of the embedded database (default: ./.stepwise)")
  .showHelpAfterError();

registerWorkflowCommands(program);
registerUiCommand(program);
registerCheckCommand(program);
registerVerifyCommand(program);
registerBuildCommand(program);
registerDataCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  printError(`stepwise: ${(error as Error).message}`);
  process.exitCode = 1;
}
