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
    close: () => pool.end(),
  };
}
