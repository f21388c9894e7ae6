import pg from "pg";
import { DatabaseConnectionError } from "../errors.js";
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

/** A pool of connections to a real Postgres server. */
export async function openPostgres(url: string, options: { maxConnections?: number } = {}): Promise<SqlDriver> {
  const description = describeDatabaseUrl(url);
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10 });
  // An idle client's error (the server went away) must not crash the process; the next query reports it.
  pool.on("error", () => {});
  try {
    const client = await pool.connect();
    client.release();
  } catch (cause) {
    await pool.end().catch(() => {});
    const reason = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
    throw new DatabaseConnectionError(
      `Cannot connect to the system database (${description}): ${reason}. ` +
        `Check that the server is running and that STEPWISE_DATABASE_URL (or databaseUrl) is right.`,
    );
  }
  const queryable = wrapPool(pool);
  const listener = new Listener(url);
  return {
    kind: "postgres",
    description,
    query: queryable.query,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(wrapPool(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    listen: (channel, onPayload) => listener.listen(channel, onPayload),
    async close() {
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
