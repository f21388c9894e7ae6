/**
 * The dashboard's HTTP server: the page (built by esbuild at package build time into
 * ui/, next to this file in dist/), its JSON API, and the guard in front of both.
 * Loaded only on demand (`stepwise ui`, `Stepwise.launch({ dashboard })`), by dynamic
 * import, so a process that does not ask for it never loads it.
 *
 * The guard: bound to a loopback address it answers only requests addressed to that
 * address (a page elsewhere cannot rebind a hostname to it); bound anywhere else it
 * refuses to start without a token, and every request without the token gets a 401.
 * Actions are POSTs with a JSON body, which a page on another origin cannot send
 * without a CORS preflight this server never grants.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { ConfigError, StepwiseError } from "../errors.js";
import { act, ApiError, getInputs, getRun, listRuns, storedValue } from "./api.js";

export interface DashboardOptions {
  /** Default 4000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. Any other address needs a token. */
  host?: string;
  /** Required off loopback. Default: env STEPWISE_UI_TOKEN. */
  token?: string;
}

export interface Dashboard {
  /** Where to open it; without the token, even when it needs one. */
  readonly url: string;
  /** Whether requests must carry the token. */
  readonly needsToken: boolean;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const COOKIE = "stepwise_token";

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Where the built page lives: beside the built server, or in dist/ when this file runs from source. */
function assetDir(): string | undefined {
  for (const candidate of ["./ui/", "../../dist/runtime/dashboard/ui/"]) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (fs.existsSync(`${dir}app.js`)) return dir;
  }
  return undefined;
}

const ASSETS: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
};

const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stepwise</title>
<link rel="stylesheet" href="/assets/app.css">
</head>
<body>
<div id="app"></div>
<script type="module" src="/assets/app.js"></script>
</body>
</html>
`;

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** The address and token a dashboard would use; refuses what it must not start with. */
export function dashboardAccess(options: DashboardOptions = {}): { host: string; port: number; token: string | undefined } {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 4000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`dashboard port must be a whole number from 0 to 65535, got ${port}`);
  const token = options.token || process.env.STEPWISE_UI_TOKEN || undefined;
  if (token !== undefined && token.length < 8) throw new ConfigError("the dashboard token must be at least 8 characters long");
  if (!isLoopback(host) && token === undefined) {
    throw new ConfigError(
      `The dashboard would listen on ${host}, which other machines can reach, and it can cancel and fork runs: ` +
        `give it a token (--token, env STEPWISE_UI_TOKEN, or dashboard.token), or bind it to 127.0.0.1.`,
    );
  }
  return { host, port, token };
}

export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const { host, port, token } = dashboardAccess(options);
  const expected = token === undefined ? undefined : digest(token);
  const assets = assetDir();

  const authorized = (req: http.IncomingMessage, url: URL): boolean => {
    if (!expected) return true;
    const given: string[] = [];
    const header = req.headers.authorization;
    if (header?.startsWith("Bearer ")) given.push(header.slice(7));
    for (const part of (req.headers.cookie ?? "").split(";")) {
      const [name, ...value] = part.trim().split("=");
      if (name === COOKIE) given.push(decodeURIComponent(value.join("=")));
    }
    const query = url.searchParams.get("token");
    if (query !== null) given.push(query);
    return given.some((candidate) => timingSafeEqual(digest(candidate), expected));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Cache-Control", "no-store");
    if (!expected) {
      // Without a token, only requests addressed to the loopback name itself: a
      // hostile page that rebinds its own hostname to 127.0.0.1 sends its own Host.
      const hostName = (req.headers.host ?? "").replace(/:\d+$/, "");
      if (!isLoopback(hostName)) return send(res, 403, "text/plain; charset=utf-8", "Forbidden: address the dashboard as 127.0.0.1 or localhost.\n");
    }
    if (!authorized(req, url)) {
      res.setHeader("WWW-Authenticate", 'Bearer realm="stepwise"');
      if (url.pathname.startsWith("/api/")) return sendJSON(res, 401, { error: "this dashboard needs its token" });
      return send(res, 401, "text/plain; charset=utf-8", "This dashboard needs its token: open it as /?token=<token> (see `stepwise ui --token`).\n");
    }
    // A token in the address becomes a cookie, and is taken out of the address bar and history.
    if (expected && url.searchParams.has("token") && req.method === "GET" && !url.pathname.startsWith("/api/")) {
      const given = url.searchParams.get("token")!;
      url.searchParams.delete("token");
      res.setHeader("Set-Cookie", `${COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/`);
      res.setHeader("Location", `${url.pathname}${url.search}`);
      return send(res, 303, "text/plain; charset=utf-8", "");
    }
    const path = url.pathname;
    if (path.startsWith("/api/")) return api(req, res, url);
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain; charset=utf-8", "Method not allowed\n");
    if (path.startsWith("/assets/")) {
      const name = path.slice("/assets/".length);
      // Own keys only: 'constructor' or '__proto__' must not reach the file system.
      const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
      if (!type) return send(res, 404, "text/plain; charset=utf-8", "Not found\n");
      if (!assets) return send(res, 500, "text/plain; charset=utf-8", "The dashboard's page is not built: run `npm run build` in the stepwise package.\n");
      return send(res, 200, type, fs.readFileSync(`${assets}${name}`));
    }
    if (path === "/" || /^\/workflows\/[^/]+\/?$/.test(path)) {
      res.setHeader("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
      return send(res, 200, "text/html; charset=utf-8", SHELL);
    }
    return send(res, 404, "text/plain; charset=utf-8", "Not found\n");
  };

  const api = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
    try {
      let parts: string[];
      try {
        parts = url.pathname.slice("/api/".length).split("/").map(decodeURIComponent);
      } catch {
        throw new ApiError(400, `malformed address: ${url.pathname}`);
      }
      if (req.method === "GET") {
        if (parts.length === 1 && parts[0] === "workflows") return sendJSON(res, 200, await listRuns(url.searchParams));
        if (parts.length === 2 && parts[0] === "workflows") return sendJSON(res, 200, await getRun(parts[1]!, afterParam(url)));
        if (parts.length === 3 && parts[0] === "workflows" && parts[2] === "inputs") return sendJSON(res, 200, await getInputs(parts[1]!));
        if (parts.length === 3 && parts[0] === "workflows" && parts[2] === "result") return sendStored(res, parts[1]!, await storedValue(parts[1]!, "result"));
        if (parts.length === 4 && parts[0] === "workflows" && parts[2] === "inputs" && parts[3] === "stored") {
          return sendStored(res, parts[1]!, await storedValue(parts[1]!, "inputs"));
        }
        if (parts.length === 5 && parts[0] === "workflows" && parts[2] === "steps" && parts[4] === "output") {
          return sendStored(res, parts[1]!, await storedValue(parts[1]!, functionIDParam(parts[3]!)));
        }
        throw new ApiError(404, `no such endpoint: GET ${url.pathname}`);
      }
      if (req.method === "POST" && parts.length === 3 && parts[0] === "workflows") {
        if (!(req.headers["content-type"] ?? "").startsWith("application/json")) {
          throw new ApiError(415, "actions take a JSON body (Content-Type: application/json)");
        }
        // Host only, not scheme: behind a TLS proxy the page's origin is https.
        const origin = req.headers.origin;
        if (origin !== undefined && hostOf(origin) !== req.headers.host) throw new ApiError(403, `actions from another origin (${origin}) are refused`);
        const body = await readJSON(req);
        return sendJSON(res, 200, await act(parts[1]!, parts[2]!, body));
      }
      throw new ApiError(405, `no such endpoint: ${req.method} ${url.pathname}`);
    } catch (error) {
      if (error instanceof ApiError) return sendJSON(res, error.status, { error: error.message });
      // The runtime's own errors are written for users; anything else (a driver's, the
      // file system's) may name paths or SQL, and stays in the server.
      if (error instanceof StepwiseError) return sendJSON(res, 500, { error: `${error.name}: ${error.message}` });
      return sendJSON(res, 500, { error: "internal error: the dashboard could not answer this request" });
    }
  };

  const server = http.createServer((req, res) => {
    // No message: it may name paths (the install folder) that a visitor has no need of.
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "Internal error\n");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new ConfigError(`The dashboard cannot listen on ${host}:${port}: the port is in use. Pick another with --port (or dashboard.port).`)
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const boundPort = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return {
    // Never with the token: a URL ends up in logs, terminals and scrollback.
    url: `http://${shownHost === "0.0.0.0" || shownHost === "[::]" ? "127.0.0.1" : shownHost}:${boundPort}/`,
    needsToken: token !== undefined,
    host,
    port: boundPort,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.statusCode = status;
  res.setHeader("Content-Type", type);
  res.end(body);
}

const MAX_FUNCTION_ID = 2 ** 31 - 1;

function functionIDParam(raw: string): number {
  const id = Number(raw);
  if (!/^\d+$/.test(raw) || id > MAX_FUNCTION_ID) throw new ApiError(400, `a function ID is a whole number from 0 to ${MAX_FUNCTION_ID}, got '${raw}'`);
  return id;
}

/** Sends a stored value as a download, in chunks, so a large one does not hold up other requests. */
async function sendStored(res: http.ServerResponse, workflowID: string, text: string): Promise<void> {
  res.statusCode = 200;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Disposition", `attachment; filename="${workflowID.replace(/[^\w.-]/g, "_").slice(0, 100)}.json"`);
  const CHUNK = 64 * 1024;
  for (let i = 0; i < text.length; i += CHUNK) {
    if (!res.write(text.slice(i, i + CHUNK))) await new Promise((resolve) => res.once("drain", resolve));
  }
  res.end();
}

/** `?after=<functionID>` of a run's page: a whole number, -1 or more; absent means every step. */
function afterParam(url: URL): number {
  const raw = url.searchParams.get("after");
  if (raw === null) return -1;
  const after = Number(raw);
  // A function ID is a Postgres integer: beyond it the database itself would refuse.
  if (!Number.isInteger(after) || after < -1 || after > MAX_FUNCTION_ID) throw new ApiError(400, `after must be a function ID (a whole number, -1 or more), got '${raw}'`);
  return after;
}

function sendJSON(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value));
}

async function readJSON(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 64 * 1024) throw new ApiError(413, "request body too large");
  }
  if (text.trim() === "") return {};
  try {
    const value = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // falls through
  }
  throw new ApiError(400, "the body must be a JSON object");
}
