import client from "prom-client";

/**
 * The gateway's own Prometheus registry (not the mesh's process-wide one, which would mix in gRPC server
 * series). Labels carry the route template, never the raw path, so cardinality stays bounded.
 */
export class GatewayMetrics {
  readonly registry = new client.Registry();
  private readonly requests = new client.Counter({
    name: "gateway_http_requests_total",
    help: "HTTP requests answered by the gateway, by route template, verb and status.",
    labelNames: ["route", "verb", "status"] as const,
    registers: [this.registry],
  });
  private readonly duration = new client.Histogram({
    name: "gateway_http_request_duration_seconds",
    help: "Time from receiving an HTTP request to the end of its response (whole stream for streaming routes).",
    labelNames: ["route", "verb"] as const,
    // 1 ms to 5 min: metadata reads are fast, asks take seconds, streams last minutes.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
  }

  observe(route: string, verb: string, status: number, seconds: number): void {
    this.requests.inc({ route, verb, status: String(status) });
    this.duration.observe({ route, verb }, seconds);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
