/**
 * What the runtime makes of a Postgres connection string and of a failure to connect:
 * which strings it accepts, how it names a database in a message (never a secret),
 * which failures are an outage to wait out, and the advice each failure deserves.
 */
import { DatabaseConnectionError } from "../errors.js";

/**
 * Refuses a connection string that is not a `postgres://` or `postgresql://` URL. A
 * near miss such as `postgres:secret@host/db` (no `//`) is otherwise read by `pg` as
 * something else: it connects to another server than the one written, and the
 * password ends up in the database name that messages print.
 */
export function checkConnectionString(url: string, where: string): void {
  let parsed: URL | undefined;
  if (/^postgres(ql)?:\/\//i.test(url)) {
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
  }
  if (!parsed) {
    throw new DatabaseConnectionError(
      `The connection string in ${where} is not a postgres:// URL (it is not shown here: it may hold a password). ` +
        `Write it as postgres://user:password@host:5432/database, with special characters in the password percent-encoded.`,
    );
  }
}

/** Host, port and database of a connection string: never its user, password or parameters. */
export function describeDatabaseUrl(url: string): string {
  try {
    if (!/^postgres(ql)?:\/\//i.test(url)) throw new Error("not a URL");
    const parsed = new URL(url);
    const host = parsed.hostname || process.env.PGHOST || "localhost";
    const port = parsed.port || "5432";
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || decodeURIComponent(parsed.username) || "postgres";
    return `postgres at ${host}:${port}/${database}`;
  } catch {
    return "postgres (connection string not shown: it is not a postgres:// URL)";
  }
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
 * The server is up but cannot serve a connection now: class 53 (insufficient
 * resources: too many connections, out of memory, disk full) and 57P03 (starting up).
 * Such a state passes; it is waited out like an outage.
 */
export function isTransientServerState(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("53") || code === "57P03");
}

/**
 * True when a statement failed because the connection went away or could not be had,
 * not because of the statement: such a failure is retried on a new connection.
 */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (CONNECTION_ERROR_CODES.has(code) || code.startsWith("08"))) return true;
  if (isTransientServerState(error)) return true;
  const message = (error as Error | null)?.message ?? "";
  return /Connection terminated|terminating connection|Client has encountered a connection error|timeout exceeded when trying to connect|connect ECONNREFUSED/i.test(
    message,
  );
}

/** Postgres's own words for a failure, with its SQLSTATE or errno code. */
export function reasonOf(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // A refused connect to "localhost" (IPv4 and IPv6) is an AggregateError with no message.
  const text = typeof message === "string" && message !== "" ? message : typeof code === "string" ? code : String(error);
  return typeof code === "string" && !text.includes(code) ? `${text} (${code})` : text;
}

/** What to do about a failure to connect, by its code. `setting` names where the connection string came from. */
export function adviceFor(error: unknown, setting: string): string {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case "28P01":
    case "28000":
      return `Check the user name and password in ${setting}, and the server's pg_hba.conf for this user and host.`;
    case "3D000":
      return `Create the database (createdb, or CREATE DATABASE), or fix its name in ${setting}.`;
    case "42501":
      return `The user may not connect to this database: GRANT CONNECT on it, or use another user in ${setting}.`;
    case "53300":
      return `The server has no free connection slot (max_connections, or the user's CONNECTION LIMIT): lower launch option maxConnections, close idle clients, or raise the limit.`;
    case "57P03":
      return `The server is starting up or shutting down; try again in a moment.`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `Check the host name in ${setting}.`;
    default:
      return `Check that the server is running and reachable, and that ${setting} is right.`;
  }
}
