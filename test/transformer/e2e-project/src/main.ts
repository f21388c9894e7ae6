import { Stepwise } from "stepwise";
import { checkout, explode } from "./orders.js";

const [command, workflowID = "wf-1"] = process.argv.slice(2);

async function main(): Promise<void> {
  switch (command) {
    case "start": {
      await Stepwise.launch();
      const handle = await Stepwise.startWorkflow(checkout, { workflowID })("o1");
      console.log("RESULT " + JSON.stringify(await handle.getResult()));
      break;
    }
    case "recover": {
      // Launching resumes every pending run of this executor.
      await Stepwise.launch();
      console.log("RESULT " + JSON.stringify(await Stepwise.retrieveWorkflow(workflowID).getResult()));
      break;
    }
    case "steps": {
      await Stepwise.launch({ recover: false });
      const steps = await Stepwise.listWorkflowSteps(workflowID);
      console.log("STEPS " + JSON.stringify(steps.map((s) => ({ functionID: s.functionID, stepID: s.stepID }))));
      break;
    }
    case "trace": {
      try {
        await explode();
      } catch (e) {
        console.log("STACK " + JSON.stringify((e as Error).stack));
      }
      return;
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
  await Stepwise.shutdown();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
