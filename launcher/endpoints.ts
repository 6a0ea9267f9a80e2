/**
 * Where every service listens in the local stack, worked out once from the catalogue (and the optional
 * port bases and replica counts) and handed to every service as static discovery.
 */
import { CATALOGUE, SERVICE_NAMES, type ServiceName } from "#mesh/catalogue.js";
import { LOOPBACK } from "./ports.js";

/** RAG_REPLICAS allows 1 to this many processes of one service. */
export const MAX_REPLICAS = 8;

export type ReplicaCounts = Partial<Record<ServiceName, number>>;

export interface Endpoint {
  name: ServiceName;
  /** 1-based replica number; replica 1 keeps the service's usual ports. */
  replica: number;
  /**
   * The process's name in the log, the status table and StackInfo.pids: the service name when it runs
   * once (as before replicas existed), "query#1", "query#2"… when it runs several times.
   */
  id: string;
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

/**
 * Every catalogue service, in catalogue order, whether or not it is being started, each followed by its
 * extra replicas. Replica k of the service at catalogue index i listens on (first port of i) +
 * (k - 1) x (number of services): the catalogue's ports are one contiguous block per kind (50051-50058,
 * 9601-9608; or base + i), so extra replicas fill the blocks after it (50059-50066 for every service's
 * second replica, …) and can never land on another service's port.
 */
export function planEndpoints(bases: PortBases = {}, replicas: ReplicaCounts = {}): Endpoint[] {
  const stride = SERVICE_NAMES.length;
  return SERVICE_NAMES.flatMap((name, i) => {
    const entry = CATALOGUE[name];
    const firstGrpc = bases.grpcPortBase !== undefined ? bases.grpcPortBase + i : entry.grpcPort;
    const firstAdmin = bases.adminPortBase !== undefined ? bases.adminPortBase + i : entry.adminPort;
    const count = replicas[name] ?? 1;
    return Array.from({ length: count }, (_, r) => {
      const grpcPort = firstGrpc + r * stride;
      const adminPort = firstAdmin + r * stride;
      return {
        name,
        replica: r + 1,
        id: count > 1 ? `${name}#${r + 1}` : name,
        grpcService: entry.grpcService,
        host: LOOPBACK,
        grpcPort,
        adminPort,
        grpcAddress: `${LOOPBACK}:${grpcPort}`,
        adminUrl: `http://${LOOPBACK}:${adminPort}/metrics`,
        database: entry.database,
      };
    });
  });
}

/** How many consecutive ports a port base must leave room for: every service, times the most replicas. */
export function portBlockSize(replicas: ReplicaCounts = {}): number {
  return SERVICE_NAMES.length * Math.max(1, ...Object.values(replicas).map((n) => n ?? 1));
}

/**
 * RAG_ENDPOINTS: "documents=127.0.0.1:50051,…,query=127.0.0.1:50056|127.0.0.1:50064,…". A replicated
 * service is one entry listing every replica ("|"), which static discovery turns into one grpc address
 * list that the client's balancing policy spreads calls over (mesh/discovery.ts).
 */
export function endpointsVariable(endpoints: readonly Endpoint[]): string {
  const byName = new Map<ServiceName, string[]>();
  for (const e of endpoints) byName.set(e.name, [...(byName.get(e.name) ?? []), e.grpcAddress]);
  return [...byName].map(([name, addresses]) => `${name}=${addresses.join("|")}`).join(",");
}

/** The database a service gets on the shared server (all its replicas share it). */
export function databaseName(name: ServiceName): string {
  return `rag_${name}`;
}
