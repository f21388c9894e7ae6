/**
 * Queues: workflows started with `{ queue }` wait as ENQUEUED rows until an executor
 * listening to the queue dequeues them within the queue's limits. Any number of
 * processes on any number of machines share one Postgres this way.
 */
import { ConfigError } from "./errors.js";
import { checkIdentifier } from "./identifiers.js";
import type { Executor } from "./executor.js";
import { FALLBACK_CHECK_MS } from "./notifier.js";
import { INTERNAL_QUEUE, queueKey, type QueueLimits } from "./sysdb/system-database.js";
import { registeredWorkflowNames } from "./registry.js";
import { resumeRun } from "./workflow.js";

export interface QueueOptions extends QueueLimits {
  /** Most runs of this queue executing at once, across all processes. */
  concurrency?: number;
  /** Most runs of this queue executing at once in one process. */
  workerConcurrency?: number;
  /** At most `limitPerPeriod` runs started per `periodSec` seconds, across all processes. */
  rateLimit?: { limitPerPeriod: number; periodSec: number };
}

const queues = new Map<string, Queue>();

export class Queue {
  constructor(
    readonly name: string,
    readonly options: QueueOptions = {},
  ) {
    if (typeof name !== "string" || name === "") throw new ConfigError("A queue needs a non-empty name.");
    checkIdentifier(name, "A queue's name");
    const positive = (key: string, value: unknown) => {
      if (value !== undefined && !(typeof value === "number" && Number.isInteger(value) && value > 0)) {
        throw new ConfigError(`Queue '${name}': '${key}' must be a whole number above 0, got ${String(value)}`);
      }
    };
    positive("concurrency", options.concurrency);
    positive("workerConcurrency", options.workerConcurrency);
    if (options.rateLimit !== undefined) {
      positive("rateLimit.limitPerPeriod", options.rateLimit.limitPerPeriod);
      if (!(typeof options.rateLimit.periodSec === "number" && options.rateLimit.periodSec > 0)) {
        throw new ConfigError(`Queue '${name}': 'rateLimit.periodSec' must be a number above 0`);
      }
    }
    const existing = queues.get(name);
    if (existing && existing !== this) {
      throw new ConfigError(`Two queues are named '${name}': define each queue once and import it where it is used.`);
    }
    queues.set(name, this);
  }
}

/**
 * Dequeues for one process: on a NOTIFY that a queue has work or a free slot, and at
 * least every couple of seconds in case a notification was missed.
 */
export class QueueDispatcher {
  private readonly pending = new Set<string>();
  private readonly busy = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly executor: Executor,
    private readonly listen: (string | { name: string })[] | undefined,
  ) {}

  /** The queues this process dequeues from: the ones named at launch, else all defined here and the internal one. */
  private queueNames(): string[] {
    if (this.listen) return this.listen.map((q) => (typeof q === "string" ? q : q.name));
    return [INTERNAL_QUEUE, ...queues.keys()];
  }

  start(): void {
    if (this.listen?.length === 0) return;
    // The payload is a fixed-size key (a queue's name may be longer than a NOTIFY payload).
    this.executor.notifier.onQueue = (key) => {
      for (const name of this.queueNames()) if (queueKey(name) === key) this.poke(name);
    };
    const tick = () => {
      for (const name of this.queueNames()) this.poke(name);
      if (!this.stopped) this.timer = setTimeout(tick, FALLBACK_CHECK_MS / 2);
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Dequeues from a queue now, or right after the dequeue already running for it. */
  poke(name: string): void {
    if (this.stopped || !this.queueNames().includes(name)) return;
    if (this.busy.has(name)) {
      this.pending.add(name);
      return;
    }
    this.busy.add(name);
    void this.dequeue(name)
      .catch((error) => this.executor.logger.warn(`queue '${name}': dequeue failed (${(error as Error).message}); will retry`))
      .finally(() => {
        this.busy.delete(name);
        if (this.pending.delete(name)) this.poke(name);
      });
  }

  private async dequeue(name: string): Promise<void> {
    const { executor } = this;
    const options = queues.get(name)?.options ?? {};
    let localRunning = 0;
    for (const entry of executor.running.values()) if (entry.queueName === name) localRunning++;
    // Without the process lock a dequeued run could be claimed by another process too: wait for it.
    if (!executor.lock.held || executor.stopping) return;
    const token = executor.lock.token;
    const rows = await executor.sysdb.dequeue(name, executor.executorID, options, localRunning, registeredWorkflowNames());
    for (const row of rows) {
      // A run dequeued but not begun stays PENDING with this process's token: recovered like any run of a stopped process.
      await resumeRun(executor, row, "dequeued", undefined, token);
      // When the run ends its slot frees up: look again (the NOTIFY covers other processes).
      executor.running.get(row.workflowID)?.promise.then(
        () => this.poke(name),
        () => this.poke(name),
      );
    }
  }
}
