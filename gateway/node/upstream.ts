import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Client, credentials, Metadata, type ClientReadableStream, type Interceptor } from "@grpc/grpc-js";
import { INTERNAL_KEEPALIVE, RECONNECT_CHANNEL_OPTIONS } from "#mesh/client.js";

/**
 * gRPC calls on raw bytes: the gateway encodes and decodes messages itself (protobuf-es, from the
 * descriptors), so one generic client per upstream target serves every service behind it.
 */

const identity = (b: Buffer): Buffer => b;

/** Upstream responses are not bounded by the HTTP body limit (a document's text can be large). */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

/**
 * A target may list several replicas (static discovery's `ipv4:a,b`, Consul, a headless Service's DNS
 * name). grpc-js's default policy, pick_first, would send every call to the first one that connects; without
 * a service config from the gateway's settings (mesh/client.ts serviceConfigFor: least_request or
 * round_robin, outlier ejection, retries of idempotent methods) round_robin spreads calls over every ready
 * replica and skips one that is down.
 */
const DEFAULT_SERVICE_CONFIG = { loadBalancingConfig: [{ round_robin: {} }] };

export interface UnaryCall {
  response: Promise<Buffer>;
  /** Cancels the call (the client went away); the response promise rejects with CANCELLED. */
  cancel(): void;
}

export type HealthStatus = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN";
const HEALTH_STATUSES: HealthStatus[] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

export class Upstreams {
  private readonly clients = new Map<string, Client>();
  private readonly serviceConfig: string;
  private readonly closers: (() => void)[] = [];

  /**
   * `resilience` gives a target's client interceptors (circuit breaker, bulkhead: mesh/resilience/) and
   * what stops them when the gateway closes.
   */
  constructor(
    serviceConfig: object = DEFAULT_SERVICE_CONFIG,
    private readonly resilience?: (target: string) => { interceptors: Interceptor[]; close(): void },
  ) {
    this.serviceConfig = JSON.stringify(serviceConfig);
  }

  /** One channel per target ("host:port"), created on first use and kept for the gateway's life. */
  client(target: string): Client {
    let client = this.clients.get(target);
    if (!client) {
      // The mesh's reconnect backoff: after a long outage, grpc-js's default (up to 120 s) would keep the
      // gateway away from a service that is back.
      const layers = this.resilience?.(target);
      if (layers) this.closers.push(() => layers.close());
      client = new Client(target, credentials.createInsecure(), {
        interceptors: layers?.interceptors ?? [],
        ...RECONNECT_CHANNEL_OPTIONS,
        ...INTERNAL_KEEPALIVE,
        "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
        "grpc.service_config": this.serviceConfig,
      });
      this.clients.set(target, client);
    }
    return client;
  }

  unary(target: string, rpcPath: string, request: Uint8Array, metadata: Metadata, timeoutMs: number): UnaryCall {
    let cancel: () => void = () => {};
    const response = new Promise<Buffer>((resolve, reject) => {
      const call = this.client(target).makeUnaryRequest(rpcPath, identity, identity, Buffer.from(request), metadata, { deadline: Date.now() + timeoutMs }, (err, value) => {
        if (err) reject(err);
        else resolve(value ?? Buffer.alloc(0));
      });
      cancel = () => call.cancel();
    });
    return { response, cancel: () => cancel() };
  }

  serverStream(target: string, rpcPath: string, request: Uint8Array, metadata: Metadata, timeoutMs: number): ClientReadableStream<Buffer> {
    return this.client(target).makeServerStreamRequest(rpcPath, identity, identity, Buffer.from(request), metadata, { deadline: Date.now() + timeoutMs });
  }

  /** `grpc.health.v1.Health/Check` for the whole server (service ""). Rejects when the call fails. */
  async health(target: string, timeoutMs: number): Promise<HealthStatus> {
    const bytes = await this.unary(target, "/grpc.health.v1.Health/Check", new Uint8Array(0), new Metadata(), timeoutMs).response;
    // HealthCheckResponse is one enum field (1: status); decoding it by hand spares a descriptor for it.
    const reader = new BinaryReader(bytes);
    let code = 0;
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 1 && wireType === 0) code = reader.int32();
      else reader.skip(wireType);
    }
    return HEALTH_STATUSES[code] ?? "UNKNOWN";
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    for (const close of this.closers.splice(0)) close();
    this.clients.clear();
  }
}
