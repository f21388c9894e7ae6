import pg from "pg";
import { DatabaseConnectionError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Queryable, QueryResult, SqlDriver } from "./driver.js";

/** Host, port and database of a connection string, never its password. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || process.env.PGHOST || "localhost";
    const port = parsed.port || "5432";
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || parsed.username || "postgres";
    return `postgres at ${host}:${port}/${database}`;
  } catch {
    return "postgres (connection string could not be parsed)";
  }
}

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
}

const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "57P01", // admin_shutdown: pg_terminate_backend, or a server shutting down
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: the server is starting up
]);

/**
 * True when a statement failed because the connection went away, not because of the
 * statement: such a failure is retried on a new connection.
 */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (CONNECTION_ERROR_CODES.has(code) || code.startsWith("08"))) return true;
  const message = (error as Error | null)?.message ?? "";
  return /Connection terminated|terminating connection|Client has encountered a connection error|timeout exceeded when trying to connect|connect ECONNREFUSED/i.test(
    message,
  );
}

/** A pool of connections to a real Postgres server. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<SqlDriver> {
  const description = describeDatabaseUrl(url);
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10, connectionTimeoutMillis: 10_000 });
  // An idle client's error (the server went away) must not crash the process; the next query reports it.
  pool.on("error", () => {});
  try {
    const client = await pool.connect();
    client.release();
  } catch (cause) {
    await pool.end().catch(() => {});
    const reason = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
    throw new DatabaseConnectionError(
      `Cannot connect to the database (${description}): ${reason}. ` +
        `Check that the server is running and that the connection string (STEPWISE_DATABASE_URL or databaseUrl) is right.`,
    );
  }
  let closed = false;
  // Whether a lost connection was reported and its return not yet.
  let outage = false;
  const reconnectMs = (options.reconnectSeconds ?? 300) * 1000;

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
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
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
    const client = await this.connect();
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

  private async reconnect() {
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
