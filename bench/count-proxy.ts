/**
 * A TCP proxy in front of Postgres that counts what clients send, read from the wire
 * protocol: statements executed (a simple Query, or an extended-protocol Execute) and
 * round trips (a simple Query, or a Sync that ends an extended-protocol exchange), with
 * each statement's text. Used to count statements per step when the server has no
 * pg_stat_statements (it must be in shared_preload_libraries, which needs a restart).
 */
import net from "node:net";

export interface Counts {
  statements: number;
  roundTrips: number;
  /** Statements by text (whitespace collapsed). */
  byText: Map<string, number>;
}

export function emptyCounts(): Counts {
  return { statements: 0, roundTrips: 0, byText: new Map() };
}

export function diff(after: Counts, before: Counts): Counts {
  const byText = new Map<string, number>();
  for (const [text, n] of after.byText) {
    const d = n - (before.byText.get(text) ?? 0);
    if (d > 0) byText.set(text, d);
  }
  return { statements: after.statements - before.statements, roundTrips: after.roundTrips - before.roundTrips, byText };
}

export function snapshot(c: Counts): Counts {
  return { statements: c.statements, roundTrips: c.roundTrips, byText: new Map(c.byText) };
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** Parses one client's stream of frontend messages and counts into `counts`. */
class FrontendParser {
  private buffer: Buffer = Buffer.alloc(0);
  private startup = true;
  /** Prepared statement name -> text; "" is the unnamed one. */
  private readonly statements = new Map<string, string>();
  /** Portal name -> statement text. */
  private readonly portals = new Map<string, string>();

  constructor(private readonly counts: Counts) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      if (this.startup) {
        if (this.buffer.length < 8) return;
        const length = this.buffer.readInt32BE(0);
        if (this.buffer.length < length) return;
        const code = this.buffer.readInt32BE(4);
        this.buffer = this.buffer.subarray(length);
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) this.startup = false;
        continue;
      }
      if (this.buffer.length < 5) return;
      const type = String.fromCharCode(this.buffer[0]!);
      const length = this.buffer.readInt32BE(1);
      if (this.buffer.length < 1 + length) return;
      const body = this.buffer.subarray(5, 1 + length);
      this.buffer = this.buffer.subarray(1 + length);
      this.message(type, body);
    }
  }

  private message(type: string, body: Buffer): void {
    const cstring = (at: number): [string, number] => {
      const end = body.indexOf(0, at);
      return [body.toString("utf8", at, end), end + 1];
    };
    switch (type) {
      case "Q": {
        this.count(cstring(0)[0]);
        this.counts.roundTrips++;
        break;
      }
      case "P": {
        const [name, next] = cstring(0);
        this.statements.set(name, cstring(next)[0]);
        break;
      }
      case "B": {
        const [portal, next] = cstring(0);
        this.portals.set(portal, this.statements.get(cstring(next)[0]) ?? "?");
        break;
      }
      case "E":
        this.count(this.portals.get(cstring(0)[0]) ?? "?");
        break;
      case "S":
        this.counts.roundTrips++;
        break;
    }
  }

  private count(text: string): void {
    const key = text.replace(/\s+/g, " ").trim();
    this.counts.statements++;
    this.counts.byText.set(key, (this.counts.byText.get(key) ?? 0) + 1);
  }
}

export interface CountingProxy {
  port: number;
  counts: Counts;
  close(): Promise<void>;
}

export async function startCountingProxy(host: string, port: number): Promise<CountingProxy> {
  const counts = emptyCounts();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    const parser = new FrontendParser(counts);
    sockets.add(client).add(upstream);
    client.on("data", (chunk) => {
      parser.push(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
