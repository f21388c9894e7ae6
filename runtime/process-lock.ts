/**
 * The process lock: how processes sharing one Postgres know which of them are alive.
 * Each launched process picks a random token and holds a session-level advisory lock
 * on it, on a dedicated connection, for as long as it lives; every run it executes
 * records that token. The server releases the lock when the session ends (the process
 * died, even by SIGKILL), so a run whose token's lock can be taken has no live owner,
 * and only such runs are ever recovered or taken over: two live processes never
 * execute one run, whatever their executor IDs.
 *
 * When the dedicated connection is lost (a server restart), the lock is gone with it and
 * other processes may take this one's runs: `onLost` tells the executor to stop them.
 * The lock is then taken again under a new token, never the old one, so a token once
 * released stays released. The embedded database serves one process: its lock is held
 * for as long as it is open, with no connection of its own.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { DatabaseConnectionError } from "./errors.js";
import type { Logger } from "./logger.js";
import { describeDatabaseUrl } from "./sysdb/pg.js";

/** The advisory-lock key of a token, in SQL: the same expression everywhere a lock is taken or tried. */
export const tokenLockKey = (tokenSql: string) => `hashtextextended(${tokenSql}, 0)`;

/** How often the dedicated connection is checked, so a silently dead one is noticed. */
const CHECK_MS = 2000;

export interface ProcessLock {
  /** The token runs executed here record; a new one after the lock was lost and taken again. */
  readonly token: string;
  /** False between losing the connection and holding a lock again: no run may be claimed or executed meanwhile. */
  readonly held: boolean;
  onLost: () => void;
  onRegained: () => void;
  close(): Promise<void>;
}

/** The embedded database's: one process per database, held while it is open. */
export function embeddedProcessLock(): ProcessLock {
  return { token: randomUUID(), held: true, onLost: () => {}, onRegained: () => {}, close: async () => {} };
}

/** Takes a process lock on this Postgres; a lock that cannot be taken at launch fails the launch. */
export async function holdProcessLock(url: string, logger: Logger): Promise<ProcessLock> {
  const lock = new AdvisoryProcessLock(url, logger);
  await lock.acquire();
  return lock;
}

class AdvisoryProcessLock implements ProcessLock {
  token = "";
  held = false;
  onLost = () => {};
  onRegained = () => {};
  private client: pg.Client | undefined;
  private closed = false;
  private checker: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  /** Connects and locks a fresh token (a new one if the random one is somehow taken). */
  async acquire(): Promise<void> {
    for (let tries = 0; tries < 3; tries++) {
      const token = randomUUID();
      const client = new pg.Client({ connectionString: this.url, keepAlive: true, connectionTimeoutMillis: 10_000 });
      // Until it is ours, an error only fails this attempt; afterwards it means the lock is gone.
      client.on("error", () => this.lost(client));
      client.on("end", () => this.lost(client));
      try {
        await client.connect();
        const result = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${tokenLockKey("$1")}) AS locked`, [token]);
        if (result.rows[0]?.locked && this.closed) {
          await client.end().catch(() => {});
          return;
        }
        if (result.rows[0]?.locked) {
          this.token = token;
          this.client = client;
          this.held = true;
          this.watch();
          return;
        }
      } catch (cause) {
        await client.end().catch(() => {});
        throw new DatabaseConnectionError(
          `Cannot take this process's lock on the database (${describeDatabaseUrl(this.url)}): ${(cause as Error).message}. ` +
            `Each process keeps one connection for it; check that the server accepts one more connection.`,
        );
      }
      await client.end().catch(() => {});
    }
    throw new DatabaseConnectionError(`Cannot take this process's lock on the database (${describeDatabaseUrl(this.url)}): three random tokens were all taken.`);
  }

  /** A connection can die without an error event (a silent network): ask it now and then. */
  private watch(): void {
    clearInterval(this.checker);
    this.checker = setInterval(() => {
      const client = this.client;
      if (!client) return;
      const timer = setTimeout(() => this.lost(client), CHECK_MS * 2);
      client.query("SELECT 1").then(
        () => clearTimeout(timer),
        () => {
          clearTimeout(timer);
          this.lost(client);
        },
      );
    }, CHECK_MS);
    this.checker.unref();
  }

  private lost(client: pg.Client): void {
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    this.held = false;
    clearInterval(this.checker);
    client.end().catch(() => {});
    this.logger.warn(
      `lost the connection holding this process's lock on the database (${describeDatabaseUrl(this.url)}): ` +
        `the runs in flight here stop at their next durable operation and resume once a lock is held again`,
    );
    this.onLost();
    void this.retake();
  }

  private async retake(): Promise<void> {
    for (let delay = 100; !this.closed && !this.held; delay = Math.min(delay * 2, 5000)) {
      await new Promise((r) => setTimeout(r, delay).unref());
      if (this.closed) return;
      try {
        await this.acquire();
      } catch {
        continue; // still away: try again
      }
      this.logger.info(`holding this process's lock on the database again (${describeDatabaseUrl(this.url)})`);
      this.onRegained();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.held = false;
    clearInterval(this.checker);
    const client = this.client;
    this.client = undefined;
    // Ending the session releases the lock.
    await client?.end().catch(() => {});
  }
}
