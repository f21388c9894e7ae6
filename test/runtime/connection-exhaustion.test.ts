/**
 * A server with no free connection slot (SQLSTATE class 53), and failures to connect
 * told in Postgres's own words with advice that fits them.
 */
import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { DatabaseConnectionError, Stepwise, step, workflow } from "stepwise";
import { databases, serverUrl } from "../helpers/databases.js";
import { createLimitedDatabase, type LimitedDatabase } from "../helpers/limited-role.js";

const postgres = databases.find((d) => d.name === "postgres");

const slow = step(async (i: number) => {
  await new Promise((r) => setTimeout(r, 50));
  return i;
}, { name: "slow" });
const fiveSteps = workflow(async (n: number, steps = 5) => {
  let total = 0;
  for (let i = 0; i < steps; i++) total += await slow(i);
  return total + n;
}, { name: "fiveSteps" });

let limited: LimitedDatabase | undefined;
afterEach(async () => {
  await Stepwise.shutdown();
  await limited?.cleanup();
  limited = undefined;
});

describe.runIf(postgres)("connection exhaustion", () => {
  test("launch waits while every slot is taken, and goes on once one is free", async () => {
    limited = await createLimitedDatabase(6);
    const exhausted = limited.exhaust(2500);
    await new Promise((r) => setTimeout(r, 300));
    await Stepwise.launch({ databaseUrl: limited.url, maxConnections: 3, logLevel: "silent" });
    await exhausted;
    expect(await fiveSteps(1)).toBe(11);
  });

  test("with no slot for longer than reconnectSeconds, launch says so in Postgres's words with fitting advice", async () => {
    limited = await createLimitedDatabase(6);
    const exhausted = limited.exhaust(3000);
    await new Promise((r) => setTimeout(r, 300));
    const error = await Stepwise.launch({ databaseUrl: limited.url, reconnectSeconds: 1, logLevel: "silent" }).catch((e) => e);
    await exhausted;
    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error.message).toContain("too many connections for role");
    expect(error.message).toContain("53300");
    expect(error.message).toContain("no free connection slot");
    expect(error.message).not.toContain("Check that the server is running");
  });

  test("runs started while another client takes every slot all finish in this process", async () => {
    limited = await createLimitedDatabase(6);
    await Stepwise.launch({ databaseUrl: limited.url, maxConnections: 4, logLevel: "silent" });
    const exhausted = limited.exhaust(3000);
    await new Promise((r) => setTimeout(r, 600));
    const handles = await Promise.all(
      Array.from({ length: 20 }, (_, i) => Stepwise.startWorkflow(fiveSteps, { workflowID: `exhausted-${i}` })(i)),
    );
    await exhausted;
    const results = await Promise.all(handles.map((h) => h.getResult()));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
  });

  test("runs parked by a shortage longer than reconnectSeconds are resumed here once slots are free", async () => {
    limited = await createLimitedDatabase(6);
    await Stepwise.launch({ databaseUrl: limited.url, maxConnections: 4, reconnectSeconds: 0.5, logLevel: "silent" });
    // Long runs (40 steps of 50 ms), in flight when the other client takes every slot.
    const handles = await Promise.all(
      Array.from({ length: 10 }, (_, i) => Stepwise.startWorkflow(fiveSteps, { workflowID: `parked-${i}` })(i, 40)),
    );
    await limited.exhaust(3000);
    const statuses = await Promise.race([
      Promise.all(handles.map((h) => h.getResult())),
      new Promise((_, reject) => setTimeout(() => reject(new Error("runs stayed PENDING")), 30_000)),
    ]);
    expect(statuses).toEqual(Array.from({ length: 10 }, (_, i) => 780 + i));
  });
});

describe("a failure to connect is told in Postgres's words, with advice that fits", () => {
  test.runIf(serverUrl)("a database that does not exist", async () => {
    const url = new URL(serverUrl!);
    url.pathname = "/no_such_database_here";
    const error = await Stepwise.launch({ databaseUrl: url.toString(), logLevel: "silent" }).catch((e) => e);
    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error.message).toContain(`database "no_such_database_here" does not exist`);
    expect(error.message).toContain("3D000");
    expect(error.message).toContain("Create the database");
  });

  test("a wrong password", async () => {
    // A server that answers every startup with Postgres's authentication failure.
    const server = net.createServer((socket) => {
      socket.once("data", () => {
        const fields = ["SFATAL", "VFATAL", "C28P01", `Mpassword authentication failed for user "app"`].map((f) => Buffer.from(`${f}\0`));
        const body = Buffer.concat([...fields, Buffer.from([0])]);
        const header = Buffer.alloc(5);
        header.write("E", 0);
        header.writeInt32BE(body.length + 4, 1);
        socket.end(Buffer.concat([header, body]));
      });
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const error = await Stepwise.launch({ databaseUrl: `postgres://app:Hunter2Secret@127.0.0.1:${port}/orders`, logLevel: "silent" }).catch((e) => e);
      expect(error).toBeInstanceOf(DatabaseConnectionError);
      expect(error.message).toContain(`password authentication failed for user "app"`);
      expect(error.message).toContain("28P01");
      expect(error.message).toContain("Check the user name and password");
      expect(error.message).not.toContain("Hunter2Secret");
    } finally {
      server.close();
    }
  });
});
