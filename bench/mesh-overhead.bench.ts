/**
 * What the mesh costs per call: the same echo handler served by bare grpc-js and by the mesh (typed
 * handlers, deadline, context, logging, metrics), called by a bare client and by the mesh client.
 * Run: node --import tsx bench/mesh-overhead.bench.ts   (LOG_LEVEL=error keeps per-call logs out)
 */
process.env.LOG_LEVEL ??= "error";
import { fileURLToPath } from "node:url";
import { credentials, loadPackageDefinition, Server, ServerCredentials, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import type { GeneratedClient } from "#mesh/client.js";
import type { AnyServiceDefinition } from "#mesh/handlers.js";
import { log } from "#mesh/logger.js";
import { serve, startServer } from "#mesh/server.js";
import { measure, record, type LatencyFigures } from "./stats.js";
import { runtime } from "#testing/runtime.js";

log.level = process.env.LOG_LEVEL;
const ECHO_PROTO = fileURLToPath(new URL("../mesh/testdata/echo.proto", import.meta.url));
const Echo = (loadPackageDefinition(loadSync(ECHO_PROTO, { keepCase: true, longs: String })) as any).meshtest.v1.EchoService as GeneratedClient<AnyServiceDefinition>;

const bare = new Server();
bare.addService(Echo.service, { Echo: (call: any, cb: any) => cb(null, { text: call.request.text }), EchoStream: (call: any) => call.end() });
const barePort = await new Promise<number>((ok, ko) => bare.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? ko(e) : ok(p))));

const mesh = await startServer(
  [serve(Echo.service, { Echo: async (req: { text: string }) => ({ text: req.text }), EchoStream: async function* () {} } as any)],
  { grpcHost: "127.0.0.1", grpcPort: 0, adminHost: "127.0.0.1", adminPort: 0, defaultDeadlineMs: 30_000, shutdownDelayMs: 0, shutdownGraceMs: 1_000, protoFiles: [ECHO_PROTO], verifier: runtime.verifier },
);

const bareClient = new Echo(`127.0.0.1:${barePort}`, credentials.createInsecure()) as any;
const meshClient = runtime.connect(Echo, "query", { target: `127.0.0.1:${mesh.grpcPort}`, serviceConfig: {} }) as any;
const req = { text: "x".repeat(100), wait_ms: 0, count: 0 };
const bareCall = () => new Promise((ok, ko) => bareClient.Echo(req, { deadline: Date.now() + 30_000 }, (e: ServiceError | null, r: unknown) => (e ? ko(e) : ok(r))));
const meshCall = () => meshClient.Echo(req);

const TOTAL = Number(process.env.BENCH_CALLS ?? 4000);
const results: Record<string, Record<string, LatencyFigures>> = { bare: {}, mesh: {} };
await measure(bareCall, 500, 8); // warm-up: JIT, connections
await measure(meshCall, 500, 8);
for (const concurrency of [1, 8, 32]) {
  // Interleave the two so machine noise hits both alike.
  results.bare![`c${concurrency}`] = await measure(bareCall, TOTAL, concurrency);
  results.mesh![`c${concurrency}`] = await measure(meshCall, TOTAL, concurrency);
}

console.log(`mesh overhead: unary echo over loopback, ${TOTAL} calls per row (${process.version}, ${(await import("node:os")).cpus().length} cores)`);
console.log("concurrency  bare p50 ms  mesh p50 ms  bare p99 ms  mesh p99 ms  bare calls/s  mesh calls/s  mesh/bare throughput");
for (const c of [1, 8, 32]) {
  const b = results.bare![`c${c}`]!;
  const m = results.mesh![`c${c}`]!;
  console.log(
    [String(c).padStart(11), b.p50_ms.toFixed(3).padStart(11), m.p50_ms.toFixed(3).padStart(12), b.p99_ms.toFixed(3).padStart(12), m.p99_ms.toFixed(3).padStart(12), String(b.throughput_per_s).padStart(13), String(m.throughput_per_s).padStart(13), (m.throughput_per_s / b.throughput_per_s).toFixed(2).padStart(21)].join(""),
  );
}
console.log(`written to ${record("mesh_overhead", { calls_per_row: TOTAL, ...results })}`);
bareClient.close();
meshClient.close();
bare.forceShutdown();
await mesh.shutdown();
