/**
 * `stepwise doctor`: reads every row of every table of schema stepwise once (each
 * row's full text, so every table page and every out-of-line value is read), and
 * reports each table as readable or not. It writes nothing.
 */
import type { Queryable, SqlDriver } from "./driver.js";

export interface TableReport {
  table: string;
  rows?: number;
  /** Why the table could not be read through; undefined when it could. */
  damage?: string;
}

export async function checkTables(db: SqlDriver): Promise<TableReport[]> {
  const { rows: tables } = await db.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_catalog.pg_tables WHERE schemaname = 'stepwise' ORDER BY tablename`,
  );
  const reports: TableReport[] = [];
  for (const { name } of tables) {
    const table = `stepwise.${quote(name)}`;
    const shown = `stepwise.${name}`;
    try {
      // Once in file order: every page the table file has.
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n, sum(length(t::text))::bigint AS bytes FROM ${table} t`);
      // Once through the primary key: a truncated file looks like a shorter table to a
      // scan in file order, but its index still points past the end.
      const key = await primaryKey(db, table);
      if (key.length > 0) {
        await db.transaction(async (tx) => {
          await tx.query(`SET LOCAL enable_seqscan = off`);
          await tx.query(`SET LOCAL enable_bitmapscan = off`);
          await tx.query(`SET LOCAL enable_indexonlyscan = off`);
          const { rows: viaKey } = await tx.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM (SELECT length(t::text) FROM ${table} t ORDER BY ${key.join(", ")}) s`,
          );
          if (viaKey[0]!.n !== rows[0]!.n) {
            throw new Error(`its primary key lists ${viaKey[0]!.n} rows but its file holds ${rows[0]!.n}: the table file or its index is damaged`);
          }
        });
      }
      reports.push({ table: shown, rows: rows[0]!.n });
    } catch (error) {
      // The driver's own words (a damaged embedded database wraps them with advice).
      const cause = (error as Error).cause as Error | undefined;
      reports.push({ table: shown, damage: cause?.message ?? (error as Error).message });
    }
  }
  return reports;
}

async function primaryKey(db: Queryable, table: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_catalog.pg_index i
     JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [table],
  );
  return rows.map((r) => quote(r.name));
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
