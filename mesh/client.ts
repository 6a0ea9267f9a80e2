import { loadSync } from "@grpc/proto-loader";
import { Client, Metadata, credentials as grpcCredentials, type ChannelCredentials, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import type { ServiceTokenMinter } from "./auth/service-token.js";
import { CATALOGUE, type ServiceName } from "./catalogue.js";
import { currentCall } from "./context.js";
import type { Discovery } from "./discovery.js";
import type { AnyServiceDefinition, RequestOf, ResponseOf } from "./handlers.js";
import { clientInterceptors, type ClientAuth } from "./interceptors/client.js";
import { PROTO_ROOT } from "./paths.js";

export { transportFailureNamed } from "./interceptors/client-naming.js";

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
  credentials?: ChannelCredentials;
  /** Default budget for calls made outside any inbound call (CLI, background jobs); the runtime's otherwise. */
  deadlineMs?: number;
  /** Metadata sent on every call of this client (e.g. the CLI's tenant). */
  metadata?: Record<string, string>;
  /** Override the address discovery would give (tests). */
  target?: string;
  /** Override the grpc service config derived from the contract (tests, special clients). */
  serviceConfig?: object;
  /**
   * How calls authenticate. "service" (the default): a service token minted by the runtime, for the tenant
   * and user of the call being served, or those named by the `x-tenant-id` / `x-caller-id` metadata given
   * here (background work). "none": no credentials (public methods). `{ bearer }`: a caller's own access
   * token (the CLI, applications).
   */
  auth?: ClientAuth;
}

/** What a client takes from the process's runtime (mesh/runtime.ts). */
export interface ClientRuntime {
  readonly discovery: Discovery;
  /** Budget of calls made outside any inbound call, unless the client sets its own. */
  readonly defaultDeadlineMs: number;
  /** Client-side retries of idempotent methods; off inside Istio, which retries instead. */
  readonly clientRetries: boolean;
  readonly tokens: Pick<ServiceTokenMinter, "authorization">;
}

/**
 * The retry policy covers only methods the contract marks `idempotency_level = NO_SIDE_EFFECTS` or
 * `IDEMPOTENT`: retrying a Create after a lost response could write twice. Inside Istio the mesh retries
 * instead (one retry layer), which `GRPC_CLIENT_RETRIES=0` selects.
 */
export function serviceConfigFor(name: ServiceName, retries: boolean): object {
  const entry = CATALOGUE[name];
  const pkg = loadSync(entry.protoFile, { includeDirs: [PROTO_ROOT] });
  const svc = pkg[entry.grpcService] as Record<string, { originalName?: string; options?: Record<string, unknown> }> | undefined;
  const idempotent: { service: string; method: string }[] = [];
  for (const [rpc, def] of Object.entries(svc ?? {})) {
    const level = def.options?.idempotency_level;
    if (level === "NO_SIDE_EFFECTS" || level === "IDEMPOTENT") idempotent.push({ service: entry.grpcService, method: rpc });
  }
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

/** A promise client of service `name`; the runtime's `connect` is how the rest of the repo calls this. */
export function createClient<D extends AnyServiceDefinition>(runtime: ClientRuntime, ctor: GeneratedClient<D>, name: ServiceName, opts: ConnectOptions = {}): PromiseClient<D> {
  const target = opts.target ?? runtime.discovery.target(name);
  const client = new ctor(target, opts.credentials ?? grpcCredentials.createInsecure(), {
    ...RECONNECT_CHANNEL_OPTIONS,
    "grpc.service_config": JSON.stringify(opts.serviceConfig ?? serviceConfigFor(name, runtime.clientRetries)),
    // 60 s keepalive: below that, servers answer with GOAWAY too_many_pings (grpc-node#1164).
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    interceptors: clientInterceptors({ dependency: name, auth: opts.auth ?? "service", tokens: runtime.tokens }),
  });
  const defaultDeadlineMs = opts.deadlineMs ?? runtime.defaultDeadlineMs;
  const out: Record<string, unknown> = { close: () => client.close() };
  for (const [key, method] of Object.entries(ctor.service)) {
    const invoke = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[key]!.bind(client);
    // Context, auth, metrics and failure naming are interceptors (interceptors/client.ts); this only adapts
    // grpc-js's calls to promises and async iterators, with the caller's own budget, metadata and signal.
    const prepare = (options: CallOptions = {}) => {
      const metadata = new Metadata();
      for (const [k, v] of Object.entries({ ...opts.metadata, ...options.metadata })) metadata.set(k, v);
      const deadline = new Date(Date.now() + (options.deadlineMs ?? defaultDeadlineMs));
      return { metadata, deadline, signal: options.signal ?? currentCall()?.signal };
    };
    out[key] = method.responseStream
      ? (request: unknown, options?: CallOptions) =>
          (async function* () {
            const { metadata, deadline, signal } = prepare(options);
            const call = invoke(request, metadata, { deadline }) as ClientReadableStream<unknown>;
            const cancel = () => call.cancel();
            signal?.addEventListener("abort", cancel, { once: true });
            try {
              for await (const message of call) yield message;
            } finally {
              signal?.removeEventListener("abort", cancel);
              call.cancel(); // no-op after a clean end; stops the stream when the consumer breaks early
            }
          })()
      : (request: unknown, options?: CallOptions) => {
          const { metadata, deadline, signal } = prepare(options);
          return new Promise((resolve, reject) => {
            const call = invoke(request, metadata, { deadline }, (err: ServiceError | null, response: unknown) => {
              signal?.removeEventListener("abort", cancel);
              if (err) reject(err);
              else resolve(response);
            }) as { cancel(): void };
            const cancel = () => call.cancel();
            signal?.addEventListener("abort", cancel, { once: true });
          });
        };
  }
  return out as PromiseClient<D>;
}
