/**
 * Connection exhaustion without touching the shared server's settings: a fresh role
 * with a CONNECTION LIMIT, owning a fresh database. `exhaust(ms)` is the other client
 * of a bad day: it takes every free slot of the role, holds them for `ms`, then lets
 * go; with `endOthers` it first ends the role's other sessions (the runtime's pool) and
 * takes their slots too.
 */
import pg from "pg";
import { serverUrl } from "./databases.js";

export interface LimitedDatabase {
  /** The role's connection string for the fresh database. */
  url: string;
  exhaust(ms: number, options?: { endOthers?: boolean }): Promise<void>;
  /** A superuser's connection string for the same database. */
  adminUrl: string;
  cleanup(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createLimitedDatabase(connectionLimit: number): Promise<LimitedDatabase> {
  const name = `sw_limited_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await admin(async (c) => {
    await c.query(`CREATE ROLE ${name} LOGIN CONNECTION LIMIT ${connectionLimit}`);
    await c.query(`CREATE DATABASE ${name} OWNER ${name}`);
  });
  const url = new URL(serverUrl!);
  url.username = name;
  url.password = "";
  url.pathname = `/${name}`;
  const adminUrl = new URL(serverUrl!);
  adminUrl.pathname = `/${name}`;

  /** Opens connections as the role until the server refuses one; returns them. */
  async function takeFreeSlots(): Promise<pg.Client[]> {
    const taken: pg.Client[] = [];
    for (;;) {
      const client = new pg.Client({ connectionString: url.toString() });
      client.on("error", () => {});
      try {
        await client.connect();
        taken.push(client);
      } catch (error) {
        if ((error as { code?: string }).code !== "53300") throw error;
        return taken;
      }
    }
  }

  return {
    url: url.toString(),
    adminUrl: adminUrl.toString(),
    async exhaust(ms, { endOthers = true } = {}) {
      const started = Date.now();
      const held = await takeFreeSlots();
      // End the role's other sessions and take their slots as they free, until the
      // others hold none (they reconnect with backoff; this client does not wait).
      while (endOthers) {
        const others = await admin((c) =>
          c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND NOT (pid = ANY($2::int[]))`, [
            name,
            held.map((h) => (h as unknown as { processID: number }).processID),
          ]),
        );
        held.push(...(await takeFreeSlots()));
        if (others.rowCount === 0 || Date.now() - started > ms / 2) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, Math.max(0, ms - (Date.now() - started))));
      await Promise.all(held.map((h) => h.end().catch(() => {})));
    },
    async cleanup() {
      await admin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS ${name}`);
      });
    },
  };
}
