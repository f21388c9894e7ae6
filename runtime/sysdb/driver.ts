/**
 * The one thing the system database needs from a driver: parameterised queries,
 * transactions and a way to close. `pg` and PGlite both implement it (pg.ts, pglite.ts),
 * so every statement in system-database.ts is written once for both.
 */

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  /**
   * Runs one statement. `name` lets a driver that supports it prepare the statement once
   * per connection (the hot path runs the same few statements over and over).
   */
  query<R = Record<string, unknown>>(text: string, params?: unknown[], name?: string): Promise<QueryResult<R>>;
}

export interface SqlDriver extends Queryable {
  readonly kind: "postgres" | "pglite";
  /** Where the database is, for messages: never includes a password. */
  readonly description: string;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Calls `onPayload` for each NOTIFY on `channel` (from any process on this database).
   * Delivery is best effort: a connection lost and re-established may miss some, which
   * is why every waiter also re-checks the database now and then.
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
}
