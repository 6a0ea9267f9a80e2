/**
 * What the REST edge costs per call: GetDocument called over gRPC directly, over REST through the Node
 * gateway with no policy (transcoding only), and through the gateway with the real EdgeAuth (an ES256
 * access token verified, the route's permission checked, per-key and per-tenant token buckets taken).
 * Run: node --import tsx bench/gateway-overhead.bench.ts
 */
process.env.LOG_LEVEL ??= "error";
process.env.RAG_INTERNAL_SECRET ??= "bench-only-internal-secret-0123456789abcdef";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { CreateDocumentRequest, DocumentsServiceClient, GetDocumentRequest } from "#gen/rag/v1/documents.js";
import { TokenVerifier } from "#mesh/auth/verifier.js";
import { log } from "#mesh/logger.js";
import { EdgeAuth } from "../gateway/node/edge-policy.js";
import { createGateway } from "../gateway/node/gateway.js";
import { memoryRateLimiter } from "../gateway/node/ratelimit/index.js";
import { startFakeUpstream } from "../gateway/node/testdata/fake-upstream.js";
import { measure, record, type LatencyFigures } from "./stats.js";

log.level = process.env.LOG_LEVEL;
const upstream = await startFakeUpstream();
const grpc = new DocumentsServiceClient(upstream.address, credentials.createInsecure());
const created = await new Promise<any>((ok, ko) =>
  grpc.createDocument(CreateDocumentRequest.fromPartial({ title: "Bench", text: "x".repeat(500) }), (e: ServiceError | null, r: unknown) => (e ? ko(e) : ok(r))),
);
const id: string = created.document.documentId;

// A real ES256 token, verified against a key set the way services and the gateway verify identity's.
const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256" };
const verifier = new TokenVerifier({ keys: async () => [jwk], internalSecret: process.env.RAG_INTERNAL_SECRET });
const token = await new SignJWT({ tid: "bench", roles: ["READER"], akid: "key-1" })
  .setProtectedHeader({ alg: "ES256", kid: "bench" })
  .setSubject("user-1")
  .setIssuer("rag-identity")
  .setAudience("rag-api")
  .setIssuedAt()
  .setExpirationTime("2h")
  .sign(privateKey);
const unlimited = { burst: 1e9, perMinute: 1e9, perHour: 1e9 };
const limiter = memoryRateLimiter({ roles: { READER: unlimited, EDITOR: unlimited, ADMIN: unlimited, SERVICE: unlimited }, tenant: unlimited });

const descriptorSets = ["gen/rag.binpb"];
const plain = createGateway({ descriptorSets, upstream: () => upstream.address });
const guarded = createGateway({ descriptorSets, upstream: () => upstream.address, policy: new EdgeAuth({ issueToken: () => Promise.reject(new Error("unused")) }, limiter, { verifier }) });
const plainPort = await plain.listen(0, "127.0.0.1");
const guardedPort = await guarded.listen(0, "127.0.0.1");

const rows: Record<string, () => Promise<unknown>> = {
  "gRPC direct": () => new Promise((ok, ko) => grpc.getDocument(GetDocumentRequest.fromPartial({ documentId: id }), (e: ServiceError | null, r: unknown) => (e ? ko(e) : ok(r)))),
  "REST, transcoding only": async () => {
    const res = await fetch(`http://127.0.0.1:${plainPort}/v1/documents/${id}`);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    return res.json();
  },
  "REST, auth + rate limits": async () => {
    const res = await fetch(`http://127.0.0.1:${guardedPort}/v1/documents/${id}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    return res.json();
  },
};

const TOTAL = Number(process.env.BENCH_CALLS ?? 3000);
const results: Record<string, Record<string, LatencyFigures>> = {};
for (const call of Object.values(rows)) await measure(call, 300, 8); // warm-up
for (const concurrency of [1, 8]) {
  // Interleaved, so machine noise hits every row alike.
  for (const [name, call] of Object.entries(rows)) (results[name] ??= {})[`c${concurrency}`] = await measure(call, TOTAL, concurrency);
}

console.log(`gateway overhead: GetDocument over loopback, ${TOTAL} calls per cell (${process.version}, ${(await import("node:os")).cpus().length} cores)`);
console.log("path                        c1 p50 ms  c1 p99 ms  c8 p50 ms  c8 p99 ms  c8 calls/s");
for (const [name, r] of Object.entries(results)) {
  const [c1, c8] = [r.c1!, r.c8!];
  console.log([name.padEnd(26), c1.p50_ms.toFixed(3).padStart(11), c1.p99_ms.toFixed(3).padStart(10), c8.p50_ms.toFixed(3).padStart(10), c8.p99_ms.toFixed(3).padStart(10), String(c8.throughput_per_s).padStart(11)].join(""));
}
console.log(`written to ${record("gateway_overhead", { calls_per_cell: TOTAL, ...results })}`);
grpc.close();
await plain.close();
await guarded.close();
await limiter.close();
await upstream.stop();
