/**
 * Where every service listens in the local stack, worked out once from the catalogue (and the optional
 * port bases) and handed to every service as static discovery.
 */
import { CATALOGUE, SERVICE_NAMES, type ServiceName } from "#mesh/catalogue.js";
import { LOOPBACK } from "./ports.js";

export interface Endpoint {
  name: ServiceName;
  /** The key the service reports under in grpc.health.v1. */
  grpcService: string;
  host: string;
  grpcPort: number;
  adminPort: number;
  /** host:port, as gRPC clients dial it. */
  grpcAddress: string;
  adminUrl: string;
  database: boolean;
}

export interface PortBases {
  grpcPortBase?: number;
  adminPortBase?: number;
}

/** Every catalogue service, in catalogue order, whether or not it is being started. */
export function planEndpoints(bases: PortBases = {}): Endpoint[] {
  return SERVICE_NAMES.map((name, i) => {
    const entry = CATALOGUE[name];
    const grpcPort = bases.grpcPortBase !== undefined ? bases.grpcPortBase + i : entry.grpcPort;
    const adminPort = bases.adminPortBase !== undefined ? bases.adminPortBase + i : entry.adminPort;
    return {
      name,
      grpcService: entry.grpcService,
      host: LOOPBACK,
      grpcPort,
      adminPort,
      grpcAddress: `${LOOPBACK}:${grpcPort}`,
      adminUrl: `http://${LOOPBACK}:${adminPort}/metrics`,
      database: entry.database,
    };
  });
}

/** RAG_ENDPOINTS: "documents=127.0.0.1:50051,ingestion=127.0.0.1:50052,...". */
export function endpointsVariable(endpoints: readonly Endpoint[]): string {
  return endpoints.map((e) => `${e.name}=${e.grpcAddress}`).join(",");
}

/** The database a service gets on the shared server. */
export function databaseName(name: ServiceName): string {
  return `rag_${name}`;
}
