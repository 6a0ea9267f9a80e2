import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { toBinary } from "@bufbuild/protobuf";
import { Metadata, status, type Interceptor } from "@grpc/grpc-js";
import { CATALOGUE, SERVICE_NAMES } from "#mesh/catalogue.js";
import { Cors } from "./cors.js";
import { errorBody, grpcError, HttpError, invalidArgument, toHttpError } from "./errors.js";
import { httpBindings, loadRegistry } from "./http-rules.js";
import { readJsonBody, requestIdOf, sendJson } from "./http-io.js";
import { GatewayMetrics } from "./metrics.js";
import { PathDecodeError } from "./path-template.js";
import { Readiness } from "./readiness.js";
import { buildRequestMessage } from "./request-message.js";
import { renderResponse } from "./response.js";
import { Router, type Route, type RouteInfo } from "./router.js";
import { resumable, resumeFrom } from "./stream-resume.js";
import { relayStream, streamFormatFor, type RelayedStream } from "./streaming.js";
import { Upstreams } from "./upstream.js";

export { HttpError } from "./errors.js";
export type { RouteInfo } from "./router.js";

/** What a policy lets through: gRPC metadata for the upstream call, and headers for the response. */
export interface Admission {
  metadata: Record<string, string>;
  headers?: Record<string, string>;
}

/** Auth and rate limiting hook, run after routing and before reading the body / calling upstream. Throws HttpError to refuse. */
export interface EdgePolicy {
  admit(req: IncomingMessage, route: RouteInfo, requestId: string): Promise<Admission>;
}

export interface GatewayOptions {
  /** Descriptor sets (with imports) whose google.api.http bindings are served, e.g. ["gen/rag.binpb"]. */
  descriptorSets: string[];
  /** Upstream target for a service, e.g. "rag.v1.DocumentsService" → "127.0.0.1:50051"; read per request. */
  upstream(service: string): string | undefined;
  /**
   * grpc service config of the upstream channels (balancing, outlier ejection, retries of idempotent
   * methods: mesh/client.ts serviceConfigFor). Default: round_robin only.
   */
  upstreamServiceConfig?: object;
  /** A target's client interceptors (circuit breaker, bulkhead) and their closing; default none. */
  upstreamResilience?: (target: string) => { interceptors: Interceptor[]; close(): void };
  /** Default: admit everything with no metadata. */
  policy?: EdgePolicy;
  /** Default 10 MiB; larger bodies are answered 413. */
  maxBodyBytes?: number;
  /** ["*"] or exact origins; [] (the default) turns CORS off. */
  cors?: { allowedOrigins: string[] };
  /** Upstream deadlines: default 30 s for unary calls, 10 min for server streams. */
  unaryTimeoutMs?: number;
  streamTimeoutMs?: number;
  /** Extra readiness check for /readyz; rejects (with a reason) when not ready. */
  ready?: () => Promise<void>;
  /**
   * Whether this /readyz request may see which dependencies are degraded (default: nobody). Everyone else
   * gets the status alone: probes need no more, and an unauthenticated caller learns nothing of the inside.
   */
  readinessDetail?: (req: IncomingMessage) => Promise<boolean>;
  /** Mounts more endpoints (e.g. /openapi.json, /docs); returns true when it answered the request. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
}

export interface Gateway {
  server: http.Server;
  /** Resolves with the bound port (useful with port 0). */
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting, lets in-flight requests finish (bounded), ends streams, closes upstream channels. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY = 10 * 1024 * 1024;
const DEFAULT_UNARY_TIMEOUT_MS = 30_000;
const DEFAULT_STREAM_TIMEOUT_MS = 10 * 60_000;
const CLOSE_GRACE_MS = 10_000;
const admitAll: EdgePolicy = { admit: async () => ({ metadata: {} }) };

/** Labels for requests that reached no RPC route, so metrics never carry raw paths. */
const UNMATCHED = "(unmatched)";
const EXTRA = "(extra)";

export function createGateway(opts: GatewayOptions): Gateway {
  const maxBodyBytes = positive("maxBodyBytes", opts.maxBodyBytes ?? DEFAULT_MAX_BODY);
  const unaryTimeoutMs = positive("unaryTimeoutMs", opts.unaryTimeoutMs ?? DEFAULT_UNARY_TIMEOUT_MS);
  const streamTimeoutMs = positive("streamTimeoutMs", opts.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS);
  if (opts.descriptorSets.length === 0) throw new Error("descriptorSets: give at least one descriptor set");
  const policy = opts.policy ?? admitAll;

  const registry = loadRegistry(opts.descriptorSets);
  const router = new Router(httpBindings(registry));
  if (router.routes.length === 0) throw new Error(`no google.api.http bindings in ${opts.descriptorSets.join(", ")}`);
  const upstreams = new Upstreams(opts.upstreamServiceConfig, opts.upstreamResilience);
  const metrics = new GatewayMetrics();
  const cors = new Cors(opts.cors?.allowedOrigins ?? []);
  const readiness = new Readiness(upstreams, () => new Map(router.services().map((s) => [s, opts.upstream(s)])), opts.ready, upstreamName);

  const inFlight = new Set<Promise<void>>();
  const streams = new Set<RelayedStream>();
  let closing = false;

  const builtIn: Record<string, (res: ServerResponse, req: IncomingMessage) => Promise<void>> = {
    "/healthz": async (res) => sendJson(res, 200, { status: "ok" }),
    "/readyz": async (res, req) => {
      const [{ ready, degraded, problems }, detail] = await Promise.all([readiness.check(), opts.readinessDetail?.(req).catch(() => false) ?? false]);
      const body = ready ? { status: "ready" } : { status: "not ready", ...(detail ? { degraded, problems } : {}) };
      sendJson(res, ready ? 200 : 503, body);
    },
    "/metrics": async (res) => {
      const { contentType, body } = await metrics.render();
      res.writeHead(200, { "content-type": contentType });
      res.end(body);
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = performance.now();
    const verb = req.method ?? "GET";
    const requestId = requestIdOf(req);
    let routeLabel = UNMATCHED;
    let upstream: string | undefined;
    res.setHeader("x-request-id", requestId);
    if (closing) res.setHeader("connection", "close");
    res.on("close", () => {
      const statusCode = res.writableFinished ? res.statusCode : 499;
      metrics.observe(routeLabel, verb, statusCode, (performance.now() - startedAt) / 1000);
    });

    try {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));

      if (cors.isPreflight(req)) {
        const verbs = router.verbsFor(path);
        routeLabel = verbs.length > 0 ? templateOf(router, verbs[0], path) : UNMATCHED;
        cors.answerPreflight(req, res, verbs.length > 0 ? verbs : ["GET", "POST", "PUT", "PATCH", "DELETE"], {});
        return;
      }
      cors.applyTo(req, res);

      const endpoint = builtIn[path];
      if (endpoint) {
        routeLabel = path;
        if (verb !== "GET") throw methodNotAllowed(["GET"], verb, path);
        await endpoint(res, req);
        return;
      }
      if (opts.extraRoutes && (await opts.extraRoutes(req, res))) {
        routeLabel = EXTRA;
        return;
      }

      const found = router.lookup(verb, path);
      if (found.kind === "not-found") throw grpcError(status.NOT_FOUND, `no route for ${verb} ${path}`);
      if (found.kind === "wrong-verb") {
        routeLabel = found.template;
        throw methodNotAllowed(found.allow, verb, path);
      }
      routeLabel = found.route.info.template;
      upstream = upstreamName(found.route.info.service);
      if (closing) throw grpcError(status.UNAVAILABLE, "the gateway is shutting down");
      await serveRpc(req, res, found.route, found.variables, query, requestId);
    } catch (err) {
      if (res.headersSent || res.destroyed) {
        if (!res.writableEnded) res.destroy();
        return;
      }
      const error = err instanceof PathDecodeError ? invalidArgument(err.message) : toHttpError(err, requestId, upstream);
      sendJson(res, error.status, errorBody(error), error.headers);
    }
  }

  async function serveRpc(req: IncomingMessage, res: ServerResponse, route: Route, variables: Map<string, string>, query: URLSearchParams, requestId: string): Promise<void> {
    const { info, binding } = route;
    const admission = await policy.admit(req, info, requestId);
    for (const [name, value] of Object.entries(admission.headers ?? {})) res.setHeader(name, value);

    const body = binding.body !== "" ? await readJsonBody(req, maxBodyBytes) : undefined;
    const request = buildRequestMessage(binding.method.input, binding.body, { pathVariables: variables, query, body }, registry);
    if (info.serverStreaming) resumeFrom(binding.method.input, request, req.headers["last-event-id"]);
    const target = opts.upstream(info.service);
    if (!target) throw grpcError(status.UNAVAILABLE, `no upstream is configured for ${info.service}`);
    const metadata = upstreamMetadata(req, requestId, admission.metadata);
    const bytes = toBinary(binding.method.input, request);
    const render = (b: Buffer) => renderResponse(binding.method.output, b, binding.responseBody, registry);

    if (!info.serverStreaming) {
      const call = upstreams.unary(target, info.rpcPath, bytes, metadata, unaryTimeoutMs);
      // A client that hangs up no longer wants the answer: cancel the upstream work too.
      const onClose = () => {
        if (!res.writableFinished) call.cancel();
      };
      res.on("close", onClose);
      try {
        const response = await call.response;
        if (!res.destroyed) sendJson(res, 200, render(response));
      } finally {
        res.off("close", onClose);
      }
      return;
    }

    const call = upstreams.serverStream(target, info.rpcPath, bytes, metadata, streamTimeoutMs);
    const relay = relayStream(call, res, {
      format: streamFormatFor(req.headers.accept),
      render,
      eventId: resumable(binding.method.output),
      toError: (err) => toHttpError(err, requestId, upstreamName(info.service)),
      sendError: (err) => sendJson(res, err.status, errorBody(err), err.headers),
    });
    streams.add(relay);
    try {
      await relay.done;
    } finally {
      streams.delete(relay);
    }
  }

  const server = http.createServer((req, res) => {
    const work = handle(req, res).finally(() => inFlight.delete(work));
    inFlight.add(work);
  });

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Streams can run for minutes: end them now with an error clients can retry on.
      for (const stream of streams) stream.abort(grpcError(status.UNAVAILABLE, "the gateway is shutting down"));
      const grace = new AbortController();
      await Promise.race([Promise.allSettled([...inFlight]), delay(CLOSE_GRACE_MS, undefined, { signal: grace.signal }).catch(() => {})]);
      grace.abort(); // the grace timer must not keep the process alive once everything has finished
      server.closeAllConnections();
      await closed;
      upstreams.close();
    },
  };
}

const CATALOGUE_NAMES = new Map(SERVICE_NAMES.map((name) => [CATALOGUE[name].grpcService, name as string]));

/** How clients hear of an upstream: its catalogue name ("documents"), or its gRPC service name; never its address. */
export function upstreamName(service: string): string {
  return CATALOGUE_NAMES.get(service) ?? service;
}

function templateOf(router: Router, verb: string, path: string): string {
  const found = router.lookup(verb, path);
  return found.kind === "found" ? found.route.info.template : UNMATCHED;
}

function methodNotAllowed(allow: string[], verb: string, path: string): HttpError {
  return new HttpError(405, status.UNIMPLEMENTED, `${verb} is not allowed on ${path}; allowed: ${allow.join(", ")}`, { headers: { allow: allow.join(", ") } });
}

/** Request id, the policy's metadata (tenant, caller...), and W3C trace context; nothing else from the client. */
function upstreamMetadata(req: IncomingMessage, requestId: string, fromPolicy: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(fromPolicy)) metadata.set(key.toLowerCase(), value);
  metadata.set("x-request-id", requestId);
  for (const header of ["traceparent", "tracestate"] as const) {
    const value = req.headers[header];
    if (typeof value === "string" && value !== "") metadata.set(header, value);
  }
  return metadata;
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer, got ${value}`);
  return value;
}
