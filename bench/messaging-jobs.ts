/** Workflows shared by bench/messaging.ts and its worker processes. */
import { Queue, Stepwise, step, workflow } from "stepwise";

export const benchQueue = new Queue("bench.queue", { concurrency: 60 });

const noop = step(async (i: number) => i, { name: "bench.noop" });
export const queued = workflow(async (i: number) => noop(i), { name: "bench.queued" });

export const echo = workflow(
  async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      const message = await Stepwise.recv<{ from: string; n: number }>("ping", 30);
      await Stepwise.send(message!.from, message!.n, "pong");
    }
  },
  { name: "bench.echo" },
);

export const pinger = workflow(
  async (echoID: string, rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      await Stepwise.send(echoID, { from: Stepwise.workflowID!, n: i }, "ping");
      await Stepwise.recv<number>("pong", 30);
    }
  },
  { name: "bench.pinger" },
);
