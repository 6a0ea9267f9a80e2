import client from "prom-client";

/**
 * One registry per process (one service per process). Series names follow go-grpc-prometheus, so the
 * usual Grafana dashboards and alert rules for gRPC work on them unchanged.
 */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

const labels = ["grpc_service", "grpc_method", "grpc_type", "grpc_code"] as const;
// Buckets from 1 ms to 30 s: embedding and generation calls are slow, metadata reads are fast.
const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const serverStarted = new client.Counter({
  name: "grpc_server_started_total",
  help: "RPCs started on the server.",
  labelNames: ["grpc_service", "grpc_method", "grpc_type"] as const,
  registers: [registry],
});
export const serverHandled = new client.Counter({
  name: "grpc_server_handled_total",
  help: "RPCs completed on the server, by status code.",
  labelNames: labels,
  registers: [registry],
});
export const serverHandling = new client.Histogram({
  name: "grpc_server_handling_seconds",
  help: "Time from receiving an RPC to sending its status.",
  labelNames: labels,
  buckets,
  registers: [registry],
});
export const serverInFlight = new client.Gauge({
  name: "grpc_server_in_flight",
  help: "RPCs being handled right now.",
  labelNames: ["grpc_service"] as const,
  registers: [registry],
});
export const clientHandled = new client.Counter({
  name: "grpc_client_handled_total",
  help: "RPCs this process made to other services, by status code.",
  labelNames: labels,
  registers: [registry],
});
export const clientHandling = new client.Histogram({
  name: "grpc_client_handling_seconds",
  help: "Latency of RPCs this process made to other services.",
  labelNames: labels,
  buckets,
  registers: [registry],
});

/** Splits "/rag.v1.DocumentsService/GetDocument" into its labels. */
export function methodLabels(path: string): { grpc_service: string; grpc_method: string } {
  const [, service = "unknown", method = "unknown"] = path.split("/");
  return { grpc_service: service, grpc_method: method };
}
