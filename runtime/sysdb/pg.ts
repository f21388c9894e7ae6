import pg from "pg";
import { DatabaseConnectionError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Queryable, QueryResult, SqlDriver } from "./driver.js";
import { adviceFor, checkConnectionString, describeDatabaseUrl, isConnectionError, isTransientServerState, reasonOf } from "./connection.js";

export { describeDatabaseUrl, isConnectionError };

function wrapPool(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<R>(text: string, params?: unknown[], name?: string): Promise<QueryResult<R>> {
      const result = await client.query(name ? { name, text, values: params } : { text, values: params });
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    },
  };
}

export interface PostgresOptions {
  maxConnections?: number;
  /** Told when the connection is lost and when it is back (host and port only). */
  logger?: Pick<Logger, "warn" | "info">;
  /** How long a statement keeps retrying through a lost connection before it fails (default 300). */
  reconnectSeconds?: number;
  /** Where the connection string came from, for messages (default: STEPWISE_DATABASE_URL or databaseUrl). */
  setting?: string;
}

/** A pool of connections to a real Postgres server. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<SqlDriver> {
  const setting = options.setting ?? "the connection string (STEPWISE_DATABASE_URL or databaseUrl)";
  checkConnectionString(url, setting);
  const description = describeDatabaseUrl(url);
  const reconnectMs = (options.reconnectSeconds ?? 300) * 1000;
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10, connectionTimeoutMillis: 10_000 });
  // An idle client's error (the server went away) must not crash the process; the next query reports it.
  pool.on("error", () => {});
  // A server that cannot be reached fails the launch at once; one that is up but cannot
  // take a connection now (full, starting) is waited for, like an outage.
  const started = Date.now();
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    try {
      const client = await pool.connect();
      client.release();
      break;
    } catch (cause) {
      if (isTransientServerState(cause) && Date.now() - started < reconnectMs) {
        if (delay === 100) options.logger?.warn(`the database (${description}) cannot take a connection now: ${reasonOf(cause)}; retrying`);
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      await pool.end().catch(() => {});
      throw new DatabaseConnectionError(`Cannot connect to the database (${description}): ${reasonOf(cause)}. ${adviceFor(cause, setting)}`, {
        cause,
      });
    }
  }
  let closed = false;
  // Whether a lost connection was reported and its return not yet.
  let outage = false;

  /**
   * Runs `op`, retrying it with backoff while the connection is lost: an outage of the
   * database delays work, it does not fail it. Every statement the runtime sends is safe
   * to repeat (inserts are conflict-checked, updates are conditional, and a transaction
   * is retried whole), which is what makes a blind retry after an ambiguous commit safe.
   */
  async function withReconnect<T>(op: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let delay = 50; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await op();
      } catch (error) {
        if (closed || !isConnectionError(error)) throw error;
        const reason = reasonOf(error);
        if (Date.now() - started > reconnectMs) {
          throw new DatabaseConnectionError(
            `Lost the connection to the database (${description}) for more than ${reconnectMs / 1000}s: ${reason}. ` +
              `Work that needed it stays PENDING and resumes once the database is back.`,
          );
        }
        if (!outage) {
          outage = true;
          options.logger?.warn(`lost the connection to the database (${description}): ${reason}; retrying`);
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  const queryable = wrapPool(pool);
  const listener = new Listener(url);
  const reported = <T>(op: () => Promise<T>) =>
    withReconnect(op).then((value) => {
      if (outage) {
        outage = false;
        options.logger?.info(`reconnected to the database (${description})`);
      }
      return value;
    });
  return {
    kind: "postgres",
    description,
    query: (text, params, name) => reported(() => queryable.query(text, params, name)),
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return reported(async () => {
        const client = await pool.connect();
        // The pool listens for errors only on idle clients. A checked-out client whose
        // connection ends between statements emits 'error' with no listener, which would
        // crash the process; note it here, and the next statement fails and is retried.
        let broken = false;
        const onError = () => (broken = true);
        client.on("error", onError);
        try {
          await client.query("BEGIN");
          const result = await fn(wrapPool(client));
          await client.query("COMMIT");
          return result;
        } catch (error) {
          broken ||= isConnectionError(error);
          if (!broken) await client.query("ROLLBACK").catch(() => {});
          throw error;
        } finally {
          client.removeListener("error", onError);
          // A client whose connection broke is discarded, not returned to the pool.
          client.release(broken || undefined);
        }
      });
    },
    listen: (channel, onPayload) => listener.listen(channel, onPayload),
    async close() {
      closed = true;
      await listener.close();
      await pool.end();
    },
  };
}

/**
 * One dedicated connection for LISTEN (a pooled connection would drop its
 * subscriptions when released). When it is lost it reconnects with backoff and
 * subscribes again; notifications sent meanwhile are missed, and the waiters' periodic
 * re-check covers them.
 */
class Listener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly handlers = new Map<string, ((payload: string) => void)[]>();
  private closed = false;

  constructor(private readonly url: string) {}

  async listen(channel: string, onPayload: (payload: string) => void): Promise<void> {
    const first = !this.handlers.has(channel);
    this.handlers.set(channel, [...(this.handlers.get(channel) ?? []), onPayload]);
    let client: pg.Client;
    try {
      client = await this.connect();
    } catch (error) {
      // No slot for it now (the pool got one): keep trying, and subscribe once connected.
      // Notifications are best effort; the waiters' re-checks cover the gap.
      if (!isConnectionError(error)) throw error;
      void this.reconnect();
      return;
    }
    if (first) await client.query(`LISTEN ${quoteIdent(channel)}`);
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url });
      client.on("notification", (n) => {
        for (const handler of this.handlers.get(n.channel) ?? []) handler(n.payload ?? "");
      });
      client.on("error", () => this.lost(client));
      client.on("end", () => this.lost(client));
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
      this.client = client;
      return client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private lost(client: pg.Client) {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    void this.reconnect();
  }

  private reconnecting = false;

  private async reconnect() {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      await this.reconnectLoop();
    } finally {
      this.reconnecting = false;
    }
  }

  private async reconnectLoop() {
    for (let delay = 100; !this.closed && !this.client; delay = Math.min(delay * 2, 5000)) {
      await new Promise((r) => setTimeout(r, delay));
      if (this.closed) return;
      await this.connect().catch(() => {});
    }
  }

  async close() {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
