import { fileURLToPath } from "node:url";
import { credentials, loadPackageDefinition, Metadata, Server, ServerCredentials, status, type Interceptor, type ServerInterceptor, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";

/**
 * Echo replicas and clients for the resilience tests and the balance bench: bare grpc-js on loopback,
 * so what is measured is grpc-js plus the module under test, not the rest of the runtime.
 */

const ECHO_PROTO = fileURLToPath(new URL("../testdata/echo.proto", import.meta.url));
export const echoDefinition = loadSync(ECHO_PROTO, { longs: String, defaults: true, keepCase: true });
const EchoService = (loadPackageDefinition(echoDefinition) as any).meshtest.v1.EchoService;
export const ECHO_SERVICE = "meshtest.v1.EchoService";
/** The echo proto's services, as proto-loader gives them (for idempotentMethods). */
export const echoMethods = echoDefinition[ECHO_SERVICE] as unknown as Record<string, { options?: Record<string, unknown> }>;

const HealthClient = (loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as any).grpc.health.v1.Health;

/** What a replica does with the next calls; tests change it while the replica runs. */
export interface Behaviour {
  /** Added to every call before it answers. */
  delayMs: number;
  /** Answer with this status instead of echoing. */
  fail?: status;
  /** Fail only this many more calls, then answer normally (undefined: all of them). */
  failTimes?: number;
  /** Trailers sent with a failure (e.g. a mesh service's details trailer). */
  failMetadata?: Metadata;
}

export interface Replica {
  port: number;
  address: string;
  behaviour: Behaviour;
  /** Calls (unary and stream) this replica received. */
  served: number;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function failure(b: Behaviour): status | undefined {
  if (b.fail === undefined) return undefined;
  if (b.failTimes === undefined) return b.fail;
  if (b.failTimes <= 0) return undefined;
  b.failTimes--;
  return b.fail;
}

/** An echo replica on 127.0.0.1 with a Health service (always SERVING), and optional server interceptors. */
export async function startReplica(behaviour: Partial<Behaviour> = {}, interceptors: ServerInterceptor[] = []): Promise<Replica> {
  const server = new Server({ interceptors });
  const replica = { behaviour: { delayMs: 0, ...behaviour }, served: 0 } as Replica;
  server.addService(EchoService.service, {
    Echo: async (call: any, cb: any) => {
      replica.served++;
      const wait = replica.behaviour.delayMs + call.request.wait_ms;
      if (wait > 0) await sleep(wait);
      const code = failure(replica.behaviour);
      if (code !== undefined) return cb({ code, details: `replica ${replica.port} fails on purpose`, metadata: replica.behaviour.failMetadata });
      cb(null, { text: call.request.text });
    },
    EchoStream: async (call: any) => {
      replica.served++;
      const wait = replica.behaviour.delayMs + call.request.wait_ms;
      if (wait > 0) await sleep(wait);
      const code = failure(replica.behaviour);
      if (code !== undefined) return call.emit("error", { code, details: `replica ${replica.port} fails on purpose` });
      for (let i = 0; i < call.request.count; i++) call.write({ text: `${call.request.text} ${i}` });
      call.end();
    },
  });
  new HealthImplementation({ "": "SERVING" }).addToServer(server);
  replica.port = await new Promise<number>((ok, ko) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? ko(e) : ok(p))));
  replica.address = `127.0.0.1:${replica.port}`;
  replica.stop = () => new Promise<void>((ok) => server.tryShutdown(() => ok()));
  return replica;
}

export interface EchoClient {
  echo(text?: string, opts?: { deadlineMs?: number; waitMs?: number }): Promise<{ text: string }>;
  /** Messages of a server stream, or the error it ended with. */
  stream(count: number, opts?: { deadlineMs?: number }): Promise<string[]>;
  health(): Promise<string>;
  /** The raw grpc-js client (for cancel tests). */
  raw: any;
  close(): void;
}

/** A client over `target` (e.g. "ipv4:127.0.0.1:1,127.0.0.1:2") with a service config and interceptors. */
export function echoClient(target: string, serviceConfig: object = {}, interceptors: Interceptor[] = []): EchoClient {
  const raw = new EchoService(target, credentials.createInsecure(), {
    "grpc.service_config": JSON.stringify(serviceConfig),
    interceptors,
  });
  const health = new HealthClient(target, credentials.createInsecure());
  return {
    raw,
    echo: (text = "hi", opts = {}) =>
      new Promise((ok, ko) =>
        raw.Echo({ text, wait_ms: opts.waitMs ?? 0 }, new Metadata(), { deadline: Date.now() + (opts.deadlineMs ?? 5_000) }, (e: ServiceError | null, r: { text: string }) =>
          e ? ko(e) : ok(r),
        ),
      ),
    stream: (count, opts = {}) =>
      new Promise((ok, ko) => {
        const out: string[] = [];
        const call = raw.EchoStream({ text: "s", count }, new Metadata(), { deadline: Date.now() + (opts.deadlineMs ?? 5_000) });
        call.on("data", (m: { text: string }) => out.push(m.text));
        call.on("error", ko);
        call.on("end", () => ok(out));
      }),
    health: () => new Promise((ok, ko) => health.Check({ service: "" }, { deadline: Date.now() + 5_000 }, (e: ServiceError | null, r: { status: string }) => (e ? ko(e) : ok(r.status)))),
    close: () => {
      raw.close();
      health.close();
    },
  };
}

/** Runs `call` `total` times with `concurrency` in flight; resolves with every outcome. */
export async function runConcurrently<T>(total: number, concurrency: number, call: (i: number) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  const out: PromiseSettledResult<T>[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        out[i] = await call(i).then(
          (value) => ({ status: "fulfilled", value }) as const,
          (reason) => ({ status: "rejected", reason }) as const,
        );
      }
    }),
  );
  return out;
}
