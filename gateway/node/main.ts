import type { IncomingMessage, ServerResponse } from "node:http";
import { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import { declareMethodPermissions, methodPermissions } from "#mesh/auth/permissions.js";
import { watchRevocations } from "#mesh/auth/revocations.js";
import { CATALOGUE, SERVICE_NAMES } from "#mesh/catalogue.js";
import { ConfigError, parseEnv } from "#mesh/config.js";
import { serviceConfigFor } from "#mesh/client.js";
import { selectDiscovery } from "#mesh/discovery/select.js";
import { dependencyResilience } from "#mesh/resilience/dependency.js";
import { resilienceSettingsFrom } from "#mesh/resilience/settings.js";
import { configureLogger, errorFields, log } from "#mesh/logger.js";
import { createRuntime } from "#mesh/runtime.js";
import { stopOn } from "#mesh/service.js";
import { gatewayEnvSchema } from "./config.js";
import { docsHandler } from "./docs.js";
import { EdgeAuth } from "./edge-policy.js";
import { createGateway } from "./gateway.js";
import { httpBindings, loadRegistry } from "./http-rules.js";
import { openApiDocument } from "./openapi.js";
import { parseRateLimitConfig, createRateLimiter } from "./ratelimit/index.js";

let env;
try {
  env = parseEnv(gatewayEnvSchema);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`gateway: ${err.message}\n`);
  process.exit(78);
}
configureLogger("gateway", env.LOG_LEVEL);
const selected = selectDiscovery(env);
const resilience = resilienceSettingsFrom(env);
const runtime = createRuntime({
  name: "gateway",
  discovery: selected.discovery,
  resilience,
  internalSecret: env.RAG_INTERNAL_SECRET,
});
declareMethodPermissions(env.GATEWAY_METHOD_PERMISSIONS);

const serviceOfTarget = new Map(SERVICE_NAMES.map((name) => [runtime.discovery.target(name), name as string]));
const byGrpcService = new Map(SERVICE_NAMES.map((name) => [CATALOGUE[name].grpcService, name]));
const upstream = (service: string) => {
  const name = byGrpcService.get(service);
  return name ? runtime.discovery.target(name) : env.GATEWAY_UPSTREAMS[service];
};

const identity = runtime.connect(IdentityServiceClient, "identity", { auth: "none" });
// Revoked keys are announced by identity and refused here at once, whatever the caches hold. The stream is
// held with a service token and reopened whenever it ends (identity restarting, connection ageing, its deadline).
const REVOCATION_WATCH_GRACE_MS = 10_000;
const revocationSource = runtime.connect(IdentityServiceClient, "identity");
const revocations = watchRevocations({
  // Ten minutes a stream, then a fresh one (with the recent list again); the deadline leaves room for the clean end.
  open: (signal) => revocationSource.watchRevocations({ watchSeconds: 600 }, { signal, deadlineMs: 630_000 }),
  // Info only: streams end routinely (connection ageing, deadlines); a failure to reconnect is logged as a warning by the watch.
  onChange: (live) => log.info(live ? "watching key revocations" : "key revocation watch ended; reconnecting (API-key exchanges are not reused meanwhile)"),
});
const limiter = createRateLimiter(env.GATEWAY_RATE_LIMITS ?? parseRateLimitConfig(undefined), env.REDIS_URL, { prefix: "rag:gateway:ratelimit:" });
const registry = loadRegistry(env.GATEWAY_DESCRIPTORS);
// Fail at start, not per request, when an RPC this gateway would serve has no permission declared.
const undeclared = httpBindings(registry).filter((b) => !methodPermissions()[`/${b.service.typeName}/${b.method.name}`]);
if (undeclared.length > 0) {
  const paths = [...new Set(undeclared.map((b) => `/${b.service.typeName}/${b.method.name}`))];
  process.stderr.write(`gateway: no permission declared for ${paths.join(", ")}: add them to GATEWAY_METHOD_PERMISSIONS\n`);
  process.exit(78);
}
const spec = JSON.stringify(openApiDocument(registry, { title: "RAG API", version: "v1" }));
const docs = docsHandler({ openApiPath: "/openapi.json", mount: "/docs" });
const serveSpec = (req: IncomingMessage, res: ServerResponse) => {
  if (req.url?.split("?")[0] !== "/openapi.json") return false;
  res.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-cache" });
  res.end(spec);
  return true;
};

const edgeAuth = new EdgeAuth(identity, limiter, { verifier: runtime.verifier, reuseExchanges: () => revocations.live });
const gateway = createGateway({
  descriptorSets: env.GATEWAY_DESCRIPTORS,
  upstream,
  upstreamServiceConfig: serviceConfigFor(SERVICE_NAMES, resilience),
  // Circuit breaker and bulkhead per upstream, named for the service behind it (never its address).
  upstreamResilience: (target) => dependencyResilience(serviceOfTarget.get(target) ?? "upstream", [], resilience),
  policy: edgeAuth,
  readinessDetail: (req) => edgeAuth.mayReadReadiness(req),
  ready: async () => {
    // A stream that ends (connection ageing, its deadline) is back within moments: only a longer gap counts.
    if (revocations.downForMs() > REVOCATION_WATCH_GRACE_MS) throw new Error("not watching identity's key revocations");
  },
  maxBodyBytes: env.GATEWAY_MAX_BODY_BYTES,
  cors: { allowedOrigins: env.GATEWAY_CORS_ORIGINS },
  unaryTimeoutMs: env.GATEWAY_UNARY_TIMEOUT_MS,
  streamTimeoutMs: env.GATEWAY_STREAM_TIMEOUT_MS,
  extraRoutes: (req, res) => serveSpec(req, res) || docs(req, res),
});

const port = await gateway.listen(env.GATEWAY_PORT, env.GATEWAY_HOST).catch((err) => {
  log.error("could not start the gateway", errorFields(err));
  process.exit(1);
});
log.info("serving", { http: `${env.GATEWAY_HOST}:${port}` });

let stopping = false;
async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info("stopping", { reason });
  setTimeout(() => process.exit(1), 15_000).unref();
  await gateway.close();
  await limiter.close();
  revocations.close();
  revocationSource.close();
  identity.close();
  log.info("stopped");
  process.exit(0);
}
stopOn(stop, env.RAG_EXIT_WITH_STDIN);
