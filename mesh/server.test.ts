import { TEST_INTERNAL_SECRET } from "#testing/auth.js";
import { runtime } from "#testing/runtime.js";
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { SignJWT, exportJWK, generateKeyPair, type JWK } from "jose";
import { declareMethodPermissions } from "./auth/permissions.js";
import { TokenVerifier } from "./auth/verifier.js";
import type { GeneratedClient } from "./client.js";
import { requireTenant, type CallContext } from "./context.js";
import { errorDetails, InvalidArgumentError, NotFoundError } from "./errors.js";
import { notImplemented, type AnyServiceDefinition } from "./handlers.js";
import { serve, startServer, type RunningServer } from "./server.js";

const ECHO_PROTO = fileURLToPath(new URL("./testdata/echo.proto", import.meta.url));
const echoPkg = loadSync(ECHO_PROTO, { longs: String, defaults: true, keepCase: true });
const EchoClient = (loadPackageDefinition(echoPkg) as any).meshtest.v1.EchoService as GeneratedClient<AnyServiceDefinition>;
const definition = EchoClient.service;
declareMethodPermissions({ "/meshtest.v1.EchoService/Echo": "query.ask", "/meshtest.v1.EchoService/EchoStream": "documents.write" });
const healthPkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as any;
const REFLECTION_PROTO = fileURLToPath(new URL("../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto", import.meta.url));
const reflectionPkg = loadPackageDefinition(loadSync(REFLECTION_PROTO, { keepCase: true })) as any;

type Echo = { text: string; wait_ms: number; count: number };

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}

// Whatever a test starts is stopped after it, pass or fail, so a failure cannot hang the file.
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** identity's public keys as the servers of these tests see them (set by `userTokens`). */
let userKeys: JWK[] = [];

/** An echo server whose handler behaviour each test chooses. */
async function echoServer(handle: (req: Echo, ctx: CallContext) => Promise<object>, opts: { defaultDeadlineMs?: number; graceMs?: number } = {}): Promise<RunningServer> {
  const server = await startServer(
    [
      serve(definition, {
        Echo: (req: Echo, ctx: CallContext) => handle(req, ctx),
        ...notImplemented(definition, "EchoStream"),
      } as any),
    ],
    {
      grpcHost: "127.0.0.1",
      grpcPort: 0,
      adminHost: "127.0.0.1",
      adminPort: 0,
      defaultDeadlineMs: opts.defaultDeadlineMs ?? 30_000,
      shutdownDelayMs: 0,
      shutdownGraceMs: opts.graceMs ?? 5_000,
      protoFiles: [ECHO_PROTO],
      // A verifier per server: each test that signs user tokens brings keys of its own.
      verifier: new TokenVerifier({ keys: async () => userKeys, internalSecret: TEST_INTERNAL_SECRET }),
    },
  );
  cleanups.push(() => server.shutdown());
  return server;
}

function client(server: RunningServer, metadata?: Record<string, string>) {
  const c = runtime.connect(EchoClient, "query", { target: `127.0.0.1:${server.grpcPort}`, serviceConfig: {}, metadata }) as any;
  cleanups.push(() => c.close());
  return c;
}

function healthOf(server: RunningServer, service = ""): Promise<string> {
  const c = new healthPkg.grpc.health.v1.Health(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
  return new Promise((resolve, reject) =>
    c.Check({ service }, (err: ServiceError | null, res: { status: string }) => (c.close(), err ? reject(err) : resolve(res.status))),
  );
}

describe("mesh server", () => {
  test("serves health per service, flips to NOT_SERVING on shutdown, and lets an in-flight call finish", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const started = new Promise<void>((r) => (entered = r));
    const server = await echoServer(async (req) => {
      entered();
      await gate;
      return { text: req.text };
    });
    assert.equal(await healthOf(server), "SERVING");
    assert.equal(await healthOf(server, "meshtest.v1.EchoService"), "SERVING");

    const c = client(server);
    const inFlight = c.Echo({ text: "still here", wait_ms: 0, count: 0 });
    await started;
    // Ask health on a separate connection before shutdown starts refusing new ones.
    const watcher = new healthPkg.grpc.health.v1.Health(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    let watching!: () => void;
    const watchOpen = new Promise<void>((r) => (watching = r));
    const notServing = new Promise<void>((resolve) => {
      const stream = watcher.Watch({ service: "meshtest.v1.EchoService" });
      stream.on("data", (m: { status: string }) => {
        if (m.status === "SERVING") watching();
        if (m.status === "NOT_SERVING") (stream.cancel(), resolve());
      });
      stream.on("error", () => undefined);
    });
    await watchOpen;
    const stopping = server.shutdown();
    await notServing;
    const readyz = await fetch(`http://127.0.0.1:${server.adminPort}/readyz`);
    assert.equal(readyz.status, 503, "readiness fails while draining");
    release();
    assert.deepEqual(await inFlight, { text: "still here", tenant: "", deadline_ms: "0" });
    await stopping;
    watcher.close();
    c.close();
  });

  test("serves reflection: lists its services and describes them", async () => {
    const server = await echoServer(async (req) => ({ text: req.text }));
    const reflection = new reflectionPkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    cleanups.push(() => reflection.close());
    const ask = (request: object) =>
      new Promise<any>((resolve, reject) => {
        const call = reflection.ServerReflectionInfo();
        call.on("data", (m: unknown) => (resolve(m), call.end()));
        call.on("error", reject);
        call.write(request);
      });
    const listed = await ask({ list_services: "" });
    const names = listed.list_services_response.service.map((s: { name: string }) => s.name);
    assert.ok(names.includes("meshtest.v1.EchoService"), `reflection lists the service: ${names.join(", ")}`);
    const described = await ask({ file_containing_symbol: "meshtest.v1.EchoService" });
    const files: Buffer[] = described.file_descriptor_response.file_descriptor_proto;
    assert.ok(files.length > 0 && files.some((f) => f.toString("latin1").includes("EchoService")), "and returns its file descriptor");
  });

  test("drain is bounded: a call that never finishes is cut off after the grace period", async () => {
    let entered!: () => void;
    const started = new Promise<void>((r) => (entered = r));
    const server = await echoServer(async (_req, ctx) => {
      entered();
      await sleep(60_000, ctx.signal);
      return { text: "late" };
    }, { graceMs: 200 });
    const c = client(server);
    const stuck = c.Echo({ text: "", wait_ms: 0, count: 0 }).catch((e: ServiceError) => e);
    await started;
    const t0 = Date.now();
    await server.shutdown();
    const err = await stuck;
    assert.ok(err instanceof Error, "the stuck call must fail, not hang");
    assert.ok(Date.now() - t0 < 5_000);
    c.close();
  });

  test("maps typed errors to status codes with messages that name the problem", async () => {
    const server = await echoServer(async (req) => {
      if (req.text === "bad") throw new InvalidArgumentError("title", "must not be empty");
      if (req.text === "missing") throw new NotFoundError("document", "d-1");
      throw new Error("SELECT * FROM secret_table failed");
    });
    const c = client(server);
    const bad: ServiceError = await c.Echo({ text: "bad", wait_ms: 0, count: 0 }).catch((e: ServiceError) => e);
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.equal(bad.details, "title: must not be empty");
    assert.deepEqual(errorDetails(bad), { field: "title" });
    const missing: ServiceError = await c.Echo({ text: "missing", wait_ms: 0, count: 0 }).catch((e: ServiceError) => e);
    assert.equal(missing.code, status.NOT_FOUND);
    assert.match(missing.details, /document "d-1" not found/);
    const internal: ServiceError = await c.Echo({ text: "boom", wait_ms: 0, count: 0 }).catch((e: ServiceError) => e);
    assert.equal(internal.code, status.INTERNAL);
    assert.equal(internal.details, "internal error", "internals must not leak to callers");
    const unimpl = await (async () => {
      for await (const _ of c.EchoStream({ text: "", wait_ms: 0, count: 1 })) void _;
    })().catch((e: ServiceError) => e);
    assert.equal((unimpl as ServiceError).code, status.UNIMPLEMENTED);
    assert.match((unimpl as ServiceError).details, /meshtest\.v1\.EchoService\/EchoStream is not implemented/);
    c.close();
    await server.shutdown();
  });

  test("a call without a deadline gets the default one", async () => {
    const server = await echoServer(async (_req, ctx) => {
      await sleep(60_000, ctx.signal);
      return { text: "never" };
    }, { defaultDeadlineMs: 150 });
    const c = new EchoClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure()) as any;
    const md = new Metadata();
    md.set("authorization", (await runtime.tokens.authorization("acme", undefined))!);
    const err: ServiceError = await new Promise((resolve) => c.Echo({ text: "" }, md, (e: ServiceError) => resolve(e)));
    assert.equal(err.code, status.DEADLINE_EXCEEDED);
    c.close();
    await server.shutdown();
  });

  test("outbound calls inherit what is left of the inbound deadline, and the caller's tenant", async () => {
    const downstream = await echoServer(async (req, ctx) => ({ text: req.text, tenant: requireTenant(ctx), deadline_ms: String(ctx.deadline) }));
    const down = client(downstream);
    let inbound = 0;
    const upstream = await echoServer(async (req, ctx) => {
      inbound = ctx.deadline;
      // No deadline given here: the client default (30 s) must be capped by the inbound one.
      return down.Echo({ ...req, text: `relayed ${req.text}` });
    });
    const up = client(upstream, { "x-tenant-id": "acme" });
    const res = await up.Echo({ text: "hi", wait_ms: 0, count: 0 }, { deadlineMs: 2_000 });
    assert.equal(res.text, "relayed hi");
    assert.equal(res.tenant, "acme");
    const seen = Number(res.deadline_ms);
    // Deadlines travel as relative timeouts (grpc-timeout) and are re-anchored on the receiver's clock,
    // so a few milliseconds of transit and rounding may appear on top.
    assert.ok(seen <= inbound + 10, `downstream deadline ${seen} must not exceed the inbound ${inbound}`);
    assert.ok(inbound - seen < 1_000, "and it is the inbound deadline, not a fresh default");
    assert.ok(inbound - Date.now() < 2_000);
    up.close();
    down.close();
    await upstream.shutdown();
    await downstream.shutdown();
  });

  test("/metrics exposes per-method counts by status and latency histograms; /healthz and /readyz answer", async () => {
    const server = await echoServer(async (req) => {
      if (req.text === "bad") throw new InvalidArgumentError("text", "bad");
      return { text: req.text };
    });
    const c = client(server);
    await c.Echo({ text: "ok", wait_ms: 0, count: 0 });
    await c.Echo({ text: "bad", wait_ms: 0, count: 0 }).catch(() => undefined);
    const body = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
    assert.match(body, /grpc_server_handled_total\{[^}]*grpc_method="Echo"[^}]*grpc_code="OK"[^}]*\} [1-9]/);
    assert.match(body, /grpc_server_handled_total\{[^}]*grpc_method="Echo"[^}]*grpc_code="INVALID_ARGUMENT"[^}]*\} [1-9]/);
    assert.match(body, /grpc_server_handling_seconds_bucket\{[^}]*grpc_method="Echo"/);
    assert.match(body, /grpc_client_handled_total\{[^}]*grpc_method="Echo"/);
    assert.match(body, /process_resident_memory_bytes/);
    assert.equal((await fetch(`http://127.0.0.1:${server.adminPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${server.adminPort}/readyz`)).status, 200);
    c.close();
    await server.shutdown();
  });

  test("a call without a tenant is refused where the handler needs one", async () => {
    const server = await echoServer(async (_req, ctx) => ({ tenant: requireTenant(ctx) }));
    // A service token made outside any tenant (like the gateway's when it checks an API key).
    const c = client(server);
    const err: ServiceError = await c.Echo({ text: "", wait_ms: 0, count: 0 }).catch((e: ServiceError) => e);
    assert.equal(err.code, status.UNAUTHENTICATED);
    assert.match(err.details, /needs a tenant/);
    c.close();
    await server.shutdown();
  });
});

describe("mesh authentication", () => {
  const raw = (server: RunningServer, md: Record<string, string>, method = "Echo"): Promise<ServiceError | null> => {
    const c = new EchoClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure()) as any;
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(md)) metadata.set(k, v);
    cleanups.push(() => c.close());
    if (method === "Echo") return new Promise((resolve) => c.Echo({ text: "" }, metadata, (e: ServiceError | null) => resolve(e)));
    return new Promise((resolve) => {
      const call = c.EchoStream({ text: "x", count: 1 }, metadata);
      call.on("data", () => undefined);
      call.on("error", (e: ServiceError) => resolve(e));
      call.on("end", () => resolve(null));
    });
  };

  async function userTokens() {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    userKeys = [publicJwk];
    return (claims: Record<string, unknown>, opts: { exp?: number; issuer?: string } = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setIssuer(opts.issuer ?? "rag-identity")
        .setAudience("rag-api")
        .setIssuedAt()
        .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 300)
        .sign(privateKey);
  }

  test("no token, a bare x-tenant-id, a forged or foreign token, or an API key: UNAUTHENTICATED, saying why", async () => {
    const server = await echoServer(async (_req, ctx) => ({ tenant: requireTenant(ctx) }));
    const sign = await userTokens();
    const none = await raw(server, {});
    assert.equal(none?.code, status.UNAUTHENTICATED);
    assert.match(none!.details, /missing credentials.*authorization: Bearer/);
    assert.equal((await raw(server, { "x-tenant-id": "acme" }))?.code, status.UNAUTHENTICATED, "metadata alone is never trusted");
    const forged = await new SignJWT({ svc: "query", tid: "acme" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("rag-mesh")
      .setAudience("rag-mesh")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("not-the-deployment-secret-not-the-deployment-secret"));
    assert.match((await raw(server, { authorization: `Bearer ${forged}` }))!.details, /invalid service token/);
    const foreign = await sign({ sub: "u1", tid: "acme", roles: ["READER"] }, { issuer: "someone-else" });
    assert.match((await raw(server, { authorization: `Bearer ${foreign}` }))!.details, /invalid access token/);
    const expired = await sign({ sub: "u1", tid: "acme", roles: ["READER"] }, { exp: Math.floor(Date.now() / 1000) - 120 });
    assert.match((await raw(server, { authorization: `Bearer ${expired}` }))!.details, /expired access token/);
    assert.match((await raw(server, { authorization: "Bearer rag_0123456789ab_secret" }))!.details, /API key is not an access token/);
    assert.match((await raw(server, { authorization: "Basic abc" }))!.details, /expected "Bearer <access token>"/);
  });

  test("a user token sets tenant and caller; a role without the method's permission gets PERMISSION_DENIED", async () => {
    const server = await echoServer(async (_req, ctx) => ({ text: ctx.callerId, tenant: requireTenant(ctx) }));
    const sign = await userTokens();
    const reader = await sign({ sub: "user-7", tid: "acme", roles: ["READER"], akid: "key-1" });
    const c = runtime.connect(EchoClient, "query", { target: `127.0.0.1:${server.grpcPort}`, serviceConfig: {}, auth: { bearer: reader } }) as any;
    cleanups.push(() => c.close());
    // x-tenant-id cannot move a caller into another tenant: the token decides.
    const res = await c.Echo({ text: "", wait_ms: 0, count: 0 }, { metadata: { "x-tenant-id": "globex" } });
    assert.deepEqual([res.tenant, res.text], ["acme", "user-7"]);
    const denied = await raw(server, { authorization: `Bearer ${reader}` }, "EchoStream");
    assert.equal(denied?.code, status.PERMISSION_DENIED);
    assert.match(denied!.details, /requires the "documents.write" permission, which role READER does not have/);
    const editor = await sign({ sub: "user-8", tid: "acme", roles: ["EDITOR"] });
    // Past authentication: the test service simply does not implement it.
    assert.equal((await raw(server, { authorization: `Bearer ${editor}` }, "EchoStream"))?.code, status.UNIMPLEMENTED);
  });
});
