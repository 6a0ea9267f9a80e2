import { loadSync } from "@grpc/proto-loader";
import { Client, Metadata, credentials as grpcCredentials, status, type ChannelCredentials, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { CATALOGUE, type ServiceName } from "./catalogue.js";
import { outboundAuthorization } from "./auth/index.js";
import { CALLER_KEY, PROPAGATED_KEYS, TENANT_KEY, currentCall } from "./context.js";
import { discovery as defaultDiscovery, type Discovery } from "./discovery.js";
import { DeadlineExceededError, isMeshStatus, isServiceError } from "./errors.js";
import type { AnyServiceDefinition, RequestOf, ResponseOf } from "./handlers.js";
import { clientHandled, clientHandling, methodLabels } from "./metrics.js";
import { PROTO_ROOT } from "./paths.js";

/** Per-call options; everything is optional and inherits from the call being served, if any. */
export interface CallOptions {
  /** Budget for this call; capped by what is left of the inbound call's deadline. */
  deadlineMs?: number;
  /** Extra metadata; wins over propagated keys. */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

export type ClientMethod<M> = M extends { responseStream: true }
  ? (request: RequestOf<M>, options?: CallOptions) => AsyncIterable<ResponseOf<M>>
  : (request: RequestOf<M>, options?: CallOptions) => Promise<ResponseOf<M>>;

/** A promise/async-iterator client with the same method names as the contract. */
export type PromiseClient<D> = { [K in keyof D]: ClientMethod<D[K]> } & { close(): void };

/** What ts-proto emits for `outputServices=grpc-js`: a client class carrying its service definition. */
export interface GeneratedClient<D extends AnyServiceDefinition> {
  new (address: string, credentials: ChannelCredentials, options?: object): Client;
  service: D;
}

export interface ConnectOptions {
  discovery?: Discovery;
  credentials?: ChannelCredentials;
  /** Default budget for calls made outside any inbound call (CLI, background jobs). */
  deadlineMs?: number;
  /** Metadata sent on every call of this client (e.g. the CLI's tenant). */
  metadata?: Record<string, string>;
  /** Override the address discovery would give (tests). */
  target?: string;
  /** Override the grpc service config derived from the contract (tests, special clients). */
  serviceConfig?: object;
  /**
   * How calls authenticate. "service" (the default): a service token minted with RAG_INTERNAL_SECRET,
   * for the tenant and user of the call being served, or those named by the `x-tenant-id` / `x-caller-id`
   * metadata given here (background work). "none": no credentials (public methods). `{ bearer }`: a
   * caller's own access token (the CLI, applications).
   */
  auth?: "service" | "none" | { bearer: string };
}

/**
 * The retry policy covers only methods the contract marks `idempotency_level = NO_SIDE_EFFECTS` or
 * `IDEMPOTENT`: retrying a Create after a lost response could write twice. Inside Istio the mesh retries
 * instead (one retry layer), which `GRPC_CLIENT_RETRIES=0` selects.
 */
export function serviceConfigFor(name: ServiceName): object {
  const entry = CATALOGUE[name];
  const pkg = loadSync(entry.protoFile, { includeDirs: [PROTO_ROOT] });
  const svc = pkg[entry.grpcService] as Record<string, { originalName?: string; options?: Record<string, unknown> }> | undefined;
  const idempotent: { service: string; method: string }[] = [];
  for (const [rpc, def] of Object.entries(svc ?? {})) {
    const level = def.options?.idempotency_level;
    if (level === "NO_SIDE_EFFECTS" || level === "IDEMPOTENT") idempotent.push({ service: entry.grpcService, method: rpc });
  }
  const retries = process.env.GRPC_CLIENT_RETRIES !== "0";
  return {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig:
      retries && idempotent.length > 0
        ? [
            {
              name: idempotent,
              retryPolicy: { maxAttempts: 3, initialBackoff: "0.1s", maxBackoff: "1s", backoffMultiplier: 2, retryableStatusCodes: ["UNAVAILABLE"] },
            },
          ]
        : [],
    // Bounds retries when a dependency is down: retries stop once 10% of calls would be retries.
    retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
  };
}

/**
 * How fast a channel finds a peer again after it went away (crashed and restarted by the launcher, a pod
 * replaced). grpc-js backs off between connection attempts from 1 s growing by 1.6x up to 120 s by
 * default, so a peer that was down for a minute was reached again only up to two minutes after it came
 * back, and every call in between failed fast with UNAVAILABLE. Here: 250 ms growing to 1 s, so a
 * restarted peer is reached within about a second; a refused connection to a peer on loopback or in the
 * cluster is cheap. Calls stay fail-fast (no waitForReady): while the peer is down a caller gets
 * UNAVAILABLE at once rather than waiting out its deadline. A DNS name (Kubernetes headless services) is
 * looked up again at most every 5 s instead of 30 s, so a replaced pod's new address is found soon too.
 * Exported for other gRPC channels in the repo (the gateway's upstreams).
 */
export const RECONNECT_CHANNEL_OPTIONS = {
  "grpc.initial_reconnect_backoff_ms": 250,
  "grpc.max_reconnect_backoff_ms": 1_000,
  "grpc.dns_min_time_between_resolutions_ms": 5_000,
} as const;

export function connect<D extends AnyServiceDefinition>(ctor: GeneratedClient<D>, name: ServiceName, opts: ConnectOptions = {}): PromiseClient<D> {
  const target = opts.target ?? (opts.discovery ?? defaultDiscovery()).target(name);
  const client = new ctor(target, opts.credentials ?? grpcCredentials.createInsecure(), {
    ...RECONNECT_CHANNEL_OPTIONS,
    "grpc.service_config": JSON.stringify(opts.serviceConfig ?? serviceConfigFor(name)),
    // 60 s keepalive: below that, servers answer with GOAWAY too_many_pings (grpc-node#1164).
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  const defaultDeadlineMs = opts.deadlineMs ?? (Number(process.env.DEFAULT_DEADLINE_MS) || 30_000);
  const out: Record<string, unknown> = { close: () => client.close() };
  for (const [key, method] of Object.entries(ctor.service)) {
    const invoke = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[key]!.bind(client);
    const labels = methodLabels(method.path);
    const prepare = async (options: CallOptions = {}) => {
      const parent = currentCall();
      let deadline = Date.now() + (options.deadlineMs ?? defaultDeadlineMs);
      if (parent) {
        if (parent.deadline <= Date.now()) throw new DeadlineExceededError(`no time left to call ${method.path}: the inbound deadline has passed`);
        deadline = Math.min(deadline, parent.deadline);
      }
      const metadata = new Metadata();
      if (parent) {
        for (const k of PROPAGATED_KEYS) {
          const v = parent.metadata.get(k)[0];
          if (typeof v === "string") metadata.set(k, v);
        }
      }
      const given = { ...opts.metadata, ...options.metadata };
      for (const [k, v] of Object.entries(given)) metadata.set(k, v);
      if (!given.authorization) {
        const auth = opts.auth ?? "service";
        const value =
          auth === "none"
            ? undefined
            : auth === "service"
              ? await outboundAuthorization(given[TENANT_KEY] ?? parent?.tenantId, given[CALLER_KEY] ?? parent?.callerId)
              : `Bearer ${auth.bearer}`;
        if (value) metadata.set("authorization", value);
      }
      return { metadata, deadline: new Date(deadline), signal: options.signal ?? parent?.signal };
    };
    const record = (type: string, started: bigint, code: status) => {
      const codeName = status[code] ?? String(code);
      clientHandled.inc({ ...labels, grpc_type: type, grpc_code: codeName });
      clientHandling.observe({ ...labels, grpc_type: type, grpc_code: codeName }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    out[key] = method.responseStream
      ? (request: unknown, options?: CallOptions) =>
          (async function* () {
            const { metadata, deadline, signal } = await prepare(options);
            const started = process.hrtime.bigint();
            const call = invoke(request, metadata, { deadline }) as ClientReadableStream<unknown>;
            const cancel = () => call.cancel();
            signal?.addEventListener("abort", cancel, { once: true });
            try {
              for await (const message of call) yield message;
              record("server_stream", started, status.OK);
            } catch (err) {
              record("server_stream", started, (err as ServiceError).code ?? status.UNKNOWN);
              throw transportFailureNamed(name, err);
            } finally {
              signal?.removeEventListener("abort", cancel);
              call.cancel(); // no-op after a clean end; stops the stream when the consumer breaks early
            }
          })()
      : async (request: unknown, options?: CallOptions) => {
          const { metadata, deadline, signal } = await prepare(options);
          return new Promise((resolve, reject) => {
            const started = process.hrtime.bigint();
            const call = invoke(request, metadata, { deadline }, (err: ServiceError | null, response: unknown) => {
              signal?.removeEventListener("abort", cancel);
              record("unary", started, err ? err.code : status.OK);
              if (err) reject(transportFailureNamed(name, err));
              else resolve(response);
            }) as { cancel(): void };
            const cancel = () => call.cancel();
            signal?.addEventListener("abort", cancel, { once: true });
          });
        };
  }
  return out as PromiseClient<D>;
}

/** Codes grpc-js makes up on the client side when the transport, not the service, failed. */
const TRANSPORT_CODES = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.INTERNAL, status.UNKNOWN, status.RESOURCE_EXHAUSTED]);

function transportReason(code: status, text: string): string {
  switch (code) {
    case status.UNAVAILABLE:
      return /drop|GOAWAY|RST_STREAM|closed|reset/i.test(text) ? "is unavailable: the connection was lost" : "is unavailable: could not connect";
    case status.DEADLINE_EXCEEDED:
      return "did not answer within the call's deadline";
    case status.CANCELLED:
      return "call was cancelled";
    case status.RESOURCE_EXHAUSTED:
      return "answered with a message over the size limit";
    default:
      return "failed at the transport level";
  }
}

/**
 * A status grpc-js made up itself (no connection, a dropped connection, the deadline) carries text such as
 * "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:50053": internal addresses that
 * would travel on into other services' errors, job records and HTTP bodies. Such a status is replaced by
 * one that names the service; the original stays as `cause`, which the logs show. A status a mesh service
 * sent (it carries the details trailer) is passed on untouched.
 */
export function transportFailureNamed(service: string, err: unknown): unknown {
  if (!isServiceError(err) || isMeshStatus(err) || !TRANSPORT_CODES.has(err.code)) return err;
  const details = `${service} ${transportReason(err.code, err.details ?? err.message)}`;
  const named = new Error(`${err.code} ${status[err.code]}: ${details}`, { cause: err }) as ServiceError;
  return Object.assign(named, { code: err.code, details, metadata: new Metadata() });
}
