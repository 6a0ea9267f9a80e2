import http from "node:http";
import type { AddressInfo } from "node:net";
import { registry } from "./metrics.js";
import { errorFields, log } from "./logger.js";

export interface AdminOptions {
  host: string;
  port: number;
  /**
   * Resolves when the service can take traffic; rejects with the reason when it cannot. Its own stores
   * only: a service is not unready because another service it calls is down.
   */
  ready: () => Promise<void>;
  /** True once shutdown has begun: readiness fails so load balancers stop sending calls. */
  draining: () => boolean;
}

/**
 * The admin port: `/metrics` for Prometheus, `/healthz` (liveness: the process answers), `/readyz`
 * (readiness: not draining and its own stores reachable). Kept off the gRPC port so scrapes and probes
 * never compete with traffic or need gRPC.
 */
export async function startAdmin(opts: AdminOptions): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = (code: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return reply(405, "method not allowed\n");
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => reply(200, text, registry.contentType),
        (err) => reply(500, `metrics failed: ${(err as Error).message}\n`),
      );
      return;
    }
    if (path === "/healthz") return reply(200, "ok\n");
    if (path === "/readyz") {
      if (opts.draining()) return reply(503, "draining\n");
      opts.ready().then(
        () => reply(200, "ready\n"),
        (err) => {
          log.warn("readiness check failed", errorFields(err));
          reply(503, `not ready: ${(err as Error).message}\n`);
        },
      );
      return;
    }
    reply(404, "not found: try /metrics, /healthz or /readyz\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
