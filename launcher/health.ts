/**
 * grpc.health.v1 probing: "is service X on host:port SERVING yet?". Uses the Health service definition
 * that grpc-health-check exports (loaded by @grpc/proto-loader from its bundled health.proto), so there
 * is no second copy of the proto here.
 */
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { setTimeout as sleep } from "node:timers/promises";

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

interface HealthStub extends grpc.Client {
  Check(
    request: { service: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, response?: { status: ServingStatus }) => void,
  ): grpc.ClientUnaryCall;
}

const HealthClient = grpc.makeClientConstructor(
  healthService as unknown as grpc.ServiceDefinition,
  "grpc.health.v1.Health",
) as unknown as new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => HealthStub;

export class HealthProbe {
  private readonly client: HealthStub;

  constructor(readonly address: string) {
    this.client = new HealthClient(address, grpc.credentials.createInsecure(), {
      // A service that is still starting refuses connections; retry the connection quickly rather than
      // with grpc's default back-off of 1 s and more.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
    });
  }

  /** One Check with its own deadline; rejects with the gRPC error (UNAVAILABLE while nothing listens). */
  check(service: string, timeoutMs: number): Promise<ServingStatus> {
    return new Promise((resolve, reject) => {
      this.client.Check({ service }, { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err) reject(err);
        else resolve(response?.status ?? "UNKNOWN");
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

export interface WaitOptions {
  /** Abort to give up (overall start-up bound, a child that died, a Ctrl-C). */
  signal: AbortSignal;
  probeTimeoutMs?: number;
}

/**
 * Probes until `service` reports SERVING. Between failed probes it waits 100 ms, growing to 500 ms:
 * readiness has no event to await from outside the process, so this is the one place we poll.
 * Rejects with the signal's reason, or with the last probe's answer added when aborted.
 */
export async function waitUntilServing(address: string, service: string, options: WaitOptions): Promise<void> {
  const probe = new HealthProbe(address);
  let delay = 100;
  let last = "no answer yet";
  try {
    for (;;) {
      if (options.signal.aborted) break;
      try {
        const status = await probe.check(service, options.probeTimeoutMs ?? 1000);
        if (status === "SERVING") return;
        last = `status ${status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      try {
        await sleep(delay, undefined, { signal: options.signal });
      } catch {
        break;
      }
      delay = Math.min(delay * 1.5, 500);
    }
    throw Object.assign(new Error(`${service} at ${address} is not SERVING (last probe: ${last})`), { cause: options.signal.reason });
  } finally {
    probe.close();
  }
}
