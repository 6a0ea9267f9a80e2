import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import pg from "pg";
import { unreachableStore } from "./store-errors.js";

test("a Postgres that is not there is an unreachable store, named without its address", async () => {
  // A port nobody listens on: bind one, note it, close it.
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  const pool = new pg.Pool({ connectionString: `postgres://x:y@127.0.0.1:${port}/db`, connectionTimeoutMillis: 2_000 });
  const err = await pool.query("SELECT 1").then(
    () => assert.fail("no server should answer"),
    (e: unknown) => e,
  );
  await pool.end();
  assert.equal(unreachableStore(err), "connection refused");
});

test("connection-class SQLSTATEs and node-postgres's own connection errors count; statement errors do not", () => {
  const pgError = (code: string) => Object.assign(new Error("x"), { code, severity: "FATAL" });
  assert.equal(unreachableStore(pgError("57P01")), "the database is restarting");
  assert.equal(unreachableStore(pgError("08006")), "the database connection failed");
  assert.equal(unreachableStore(new Error("Connection terminated unexpectedly")), "the database connection was lost");
  assert.equal(unreachableStore(new Error("wrapped", { cause: Object.assign(new Error("reset"), { code: "ECONNRESET" }) })), "connection reset");
  assert.equal(unreachableStore(pgError("23505")), undefined, "a unique violation is the request's problem");
  assert.equal(unreachableStore(pgError("42P01")), undefined);
  assert.equal(unreachableStore(new Error("boom")), undefined);
  assert.equal(unreachableStore(undefined), undefined);
  const fetchFailed = Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) });
  assert.equal(unreachableStore(fetchFailed), undefined, "an HTTP provider's failure is its caller's to name");
});
