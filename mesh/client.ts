import { loadSync } from "@grpc/proto-loader";
import { Client, Metadata, credentials as grpcCredentials, type ChannelCredentials, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import type { ServiceTokenMinter } from "./auth/service-token.js";
import { CATALOGUE, type ServiceName } from "./catalogue.js";
import { currentCall } from "./context.js";
import type { Discovery } from "./discovery.js";
import type { AnyServiceDefinition, RequestOf, ResponseOf } from "./handlers.js";
import { clientInterceptors, type ClientAuth } from "./interceptors/client.js";
import { PROTO_ROOT } from "./paths.js";
import { dependencyResilience } from "./resilience/dependency.js";
import { buildServiceConfig, idempotentMethods, type MethodName } from "./resilience/service-config.js";
import type { ResilienceSettings } from "./resilience/settings.js";

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
  /** Balancing, retries, outlier ejection, breaker and bulkhead (mesh/resilience/); each can be off for Istio. */
  readonly resilience: ResilienceSettings;
  readonly tokens: Pick<ServiceTokenMinter, "authorization">;
}

/**
 * The methods of `name` the contract marks `idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT`: only
 * those are retried (retrying a Create after a lost response could write twice). Read once per service.
 */
const idempotentByService = new Map<ServiceName, MethodName[]>();
function idempotentOf(name: ServiceName): MethodName[] {
  let methods = idempotentByService.get(name);
  if (!methods) {
    const entry = CATALOGUE[name];
    const pkg = loadSync(entry.protoFile, { includeDirs: [PROTO_ROOT] });
    methods = idempotentMethods(entry.grpcService, pkg[entry.grpcService] as Parameters<typeof idempotentMethods>[1]);
    idempotentByService.set(name, methods);
  }
  return methods;
}

/** The grpc service config of a channel to `names` (one, or every service behind one gateway channel). */
export function serviceConfigFor(names: readonly ServiceName[], settings: ResilienceSettings): object {
  return buildServiceConfig(names.flatMap(idempotentOf), settings);
}

/**
 * How fast a client notices a peer that stopped answering without closing its connection (a hung process,
 * SIGSTOP, a host gone off the network): a ping every 10 s while calls are open, and the connection is
 * dropped when one is not answered within 5 s. The calls on it then fail UNAVAILABLE, idempotent ones are
 * retried on another replica, and the peer leaves the picks until it answers a new connection. grpc-js and
 * Envoy servers accept pings this often while calls are open; gRPC C-core servers would answer GOAWAY
 * too_many_pings below 5 min only for pings without calls, which keepalive_permit_without_calls=0 never sends.
 */
export const INTERNAL_KEEPALIVE = {
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 0,
} as const;

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
  const resilience = dependencyResilience(name, idempotentOf(name), runtime.resilience);
  const client = new ctor(target, opts.credentials ?? grpcCredentials.createInsecure(), {
    ...RECONNECT_CHANNEL_OPTIONS,
    ...INTERNAL_KEEPALIVE,
    "grpc.service_config": JSON.stringify(opts.serviceConfig ?? resilience.serviceConfig),
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    interceptors: clientInterceptors({ dependency: name, auth: opts.auth ?? "service", tokens: runtime.tokens, resilience: resilience.interceptors }),
  });
  const defaultDeadlineMs = opts.deadlineMs ?? runtime.defaultDeadlineMs;
  const out: Record<string, unknown> = {
    close: () => {
      client.close();
      resilience.close();
    },
  };
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
