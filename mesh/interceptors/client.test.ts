import { startFakeServer } from "#testing/grpc.js";
import { runtime } from "#testing/runtime.js";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadPackageDefinition, status, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { declareMethodPermissions } from "../auth/permissions.js";
import type { GeneratedClient } from "../client.js";
import { REQUEST_ID_KEY, runDetached, type CallContext } from "../context.js";
import { DeadlineExceededError } from "../errors.js";
import { notImplemented, type AnyServiceDefinition } from "../handlers.js";
import { clientHandled } from "../metrics.js";
import { serve, type RunningServer } from "../server.js";

const ECHO_PROTO = fileURLToPath(new URL("../testdata/echo.proto", import.meta.url));
const EchoClient = (loadPackageDefinition(loadSync(ECHO_PROTO, { longs: String, defaults: true, keepCase: true })) as any).meshtest.v1.EchoService as GeneratedClient<AnyServiceDefinition>;
declareMethodPermissions({ "/meshtest.v1.EchoService/Echo": "query.ask", "/meshtest.v1.EchoService/EchoStream": "documents.write" });

let server: RunningServer;
const seen: CallContext[] = [];

before(async () => {
  server = await startFakeServer(
    [serve(EchoClient.service, { Echo: async (req: { text: string }, ctx: CallContext) => (seen.push(ctx), { text: req.text, tenant: ctx.tenantId }), ...notImplemented(EchoClient.service, "EchoStream") } as any)],
    [ECHO_PROTO],
  );
});
after(() => server.shutdown());

const echo = (target = `127.0.0.1:${server.grpcPort}`) => runtime.connect(EchoClient, "query", { target, serviceConfig: {} }) as any;

async function handled(code: string): Promise<number> {
  const values = (await clientHandled.get()).values.filter((v) => v.labels.grpc_method === "Echo" && v.labels.grpc_code === code);
  return values.reduce((sum, v) => sum + v.value, 0);
}

test("client interceptors: the inbound call's request id, tenant and deadline travel with the outbound call, which is counted", async () => {
  const before = await handled("OK");
  const deadline = Date.now() + 5_000;
  const work = { service: "test", method: "work", tenantId: "acme", callerId: "user-1", requestId: "req-42", deadline };
  const res = await runDetached(work, () => echo().Echo({ text: "hi" }, { deadlineMs: 60_000 }));
  assert.deepEqual([res.text, res.tenant], ["hi", "acme"]);
  const ctx = seen.at(-1)!;
  assert.equal(ctx.requestId, "req-42");
  assert.equal(ctx.metadata.get(REQUEST_ID_KEY)[0], "req-42");
  // grpc-timeout travels in whole units, so the server may see the deadline a few ms later.
  assert.ok(ctx.deadline <= deadline + 100, "capped by the inbound deadline, not the 60 s asked for");
  assert.equal(await handled("OK"), before + 1);
});

test("client interceptors: with no time left the call is refused before it is made", async () => {
  const calls = seen.length;
  const before = await handled("DEADLINE_EXCEEDED");
  const work = { service: "test", method: "work", tenantId: "acme", callerId: undefined, requestId: "req-late", deadline: Date.now() - 1 };
  await assert.rejects(
    runDetached(work, () => echo().Echo({ text: "late" })),
    (err: unknown) => err instanceof DeadlineExceededError && /no time left to call \/meshtest\.v1\.EchoService\/Echo/.test(err.message),
  );
  assert.equal(seen.length, calls, "the server never saw it");
  assert.equal(await handled("DEADLINE_EXCEEDED"), before, "nothing was sent, so nothing is counted");
});

test("client interceptors: a transport failure names the dependency and keeps grpc-js's status as the cause", async () => {
  const err: ServiceError = await echo("127.0.0.1:1").Echo({ text: "x" }, { deadlineMs: 2_000 }).catch((e: ServiceError) => e);
  assert.equal(err.code, status.UNAVAILABLE);
  assert.equal(err.details, "query is unavailable: could not connect");
  assert.doesNotMatch(err.message, /127\.0\.0\.1/);
  assert.match(String((err.cause as Error | undefined)?.message), /127\.0\.0\.1:1|ECONNREFUSED|No connection/);
});
