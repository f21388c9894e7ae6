/**
 * The floor: raw single-row INSERTs, each its own autocommit statement, through the
 * same driver and pool Stepwise uses (pg with 10 connections, or PGlite), on a database
 * of its own. The row is the size of a step's checkpoint.
 */
import type { SqlDriver } from "../runtime/sysdb/driver.js";
import { openPGlite } from "../runtime/sysdb/pglite.js";
import { openPostgres } from "../runtime/sysdb/pg.js";
import type { Target } from "./target.js";

let db: SqlDriver | undefined;
let run = 0;

const insert = (key: string, i: number) =>
  db!.query(`INSERT INTO bench_floor VALUES ($1, $2, $3)`, [key, i, `{"json":{"i":${i},"ok":true}}`], "bench_floor");

export const target: Target = {
  name: "floor",
  async launch(where) {
    db = where.url ? await openPostgres(where.url) : await openPGlite(where.dataDir!);
    await db.query(`CREATE TABLE IF NOT EXISTS bench_floor (id text, n integer, payload text)`);
  },
  async sequential(n) {
    const key = `s${run++}`;
    for (let i = 0; i < n; i++) await insert(key, i);
  },
  async oneStep(i) {
    // What a durable one-step workflow must write at least: its start, its step's output, its end.
    const key = `o${run++}`;
    await insert(key, -1);
    await insert(key, i);
    await insert(key, -2);
  },
  async small(n) {
    const key = `c${run++}`;
    for (let i = 0; i < n; i++) await insert(key, i);
  },
  async startRecoverable() {
    throw new Error("the floor has no recovery");
  },
  async unfinished() {
    return 0;
  },
  async shutdown() {
    await db?.close();
  },
};
