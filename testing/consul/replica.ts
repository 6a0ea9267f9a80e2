/**
 * A stand-in replica for discovery tests: a real grpc-js server on 127.0.0.1 running the mesh's echo
 * service (it answers with its own name, so a test sees which replica took a call) and an admin HTTP server
 * whose /readyz the test turns red or green. Nothing of the service runtime is involved.
 */
import { createServer, type Server as HttpServer } from "node:http";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { credentials, loadPackageDefinition, Server, ServerCredentials, type Client, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

const ECHO_PROTO = fileURLToPath(new URL("../../mesh/testdata/echo.proto", import.meta.url));
const echoPkg = loadPackageDefinition(loadSync(ECHO_PROTO, { longs: String, defaults: true, keepCase: true })) as any;
export const EchoClient = echoPkg.meshtest.v1.EchoService as new (target: string, creds: ReturnType<typeof credentials.createInsecure>, options?: object) => Client & {
  Echo(req: { text: string }, opts: { deadline: Date }, cb: (err: ServiceError | null, res: { text: string }) => void): void;
};

export interface Replica {
  name: string;
  grpcPort: number;
  adminPort: number;
  /** Turns /readyz green (200) or red (503). */
  setReady(ready: boolean): void;
  /** Stops both servers at once, as a crash would. */
  stop(): Promise<void>;
}

export async function startReplica(name: string): Promise<Replica> {
  const server = new Server();
  server.addService(echoPkg.meshtest.v1.EchoService.service, {
    Echo: (_call: unknown, cb: (err: null, res: { text: string }) => void) => cb(null, { text: name }),
    EchoStream: (call: { end(): void }) => call.end(),
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  let ready = true;
  const admin: HttpServer = createServer((req, res) => {
    if (req.url === "/readyz") res.writeHead(ready ? 200 : 503).end(ready ? "ready" : "not ready");
    else res.writeHead(404).end();
  });
  admin.listen(0, "127.0.0.1");
  await once(admin, "listening");
  const adminPort = (admin.address() as { port: number }).port;
  let stopped = false;
  return {
    name,
    grpcPort,
    adminPort,
    setReady: (r) => void (ready = r),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      server.forceShutdown();
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    },
  };
}

/** One Echo call; resolves with the name of the replica that answered. */
export function echo(client: InstanceType<typeof EchoClient>, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Echo({ text: "hi" }, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => (err ? reject(err) : resolve(res.text))),
  );
}
