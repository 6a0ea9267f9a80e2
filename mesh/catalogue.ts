/**
 * The address book of the deployment: every service's name, its gRPC service, and the ports it listens on
 * when nothing else is configured. The launcher, static discovery and the CLI all read it, so a port is
 * written down exactly once.
 */
export const SERVICE_NAMES = [
  "documents",
  "ingestion",
  "embeddings",
  "retrieval",
  "generation",
  "query",
  "identity",
  "notifications",
] as const;

export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ServiceEntry {
  /** Fully qualified protobuf service, also the key reported by grpc.health.v1. */
  grpcService: string;
  /** Proto file (relative to proto/) that defines it; reflection serves it. */
  protoFile: string;
  grpcPort: number;
  adminPort: number;
  /** Whether the service keeps state in Postgres (and so gets a database of its own). */
  database: boolean;
}

export const CATALOGUE: Record<ServiceName, ServiceEntry> = {
  documents: { grpcService: "rag.v1.DocumentsService", protoFile: "rag/v1/documents.proto", grpcPort: 50051, adminPort: 9601, database: true },
  ingestion: { grpcService: "rag.v1.IngestionService", protoFile: "rag/v1/ingestion.proto", grpcPort: 50052, adminPort: 9602, database: true },
  embeddings: { grpcService: "rag.v1.EmbeddingsService", protoFile: "rag/v1/embeddings.proto", grpcPort: 50053, adminPort: 9603, database: false },
  retrieval: { grpcService: "rag.v1.RetrievalService", protoFile: "rag/v1/retrieval.proto", grpcPort: 50054, adminPort: 9604, database: false },
  generation: { grpcService: "rag.v1.GenerationService", protoFile: "rag/v1/generation.proto", grpcPort: 50055, adminPort: 9605, database: false },
  query: { grpcService: "rag.v1.QueryService", protoFile: "rag/v1/query.proto", grpcPort: 50056, adminPort: 9606, database: false },
  identity: { grpcService: "rag.v1.IdentityService", protoFile: "rag/v1/identity.proto", grpcPort: 50057, adminPort: 9607, database: true },
  notifications: { grpcService: "rag.v1.NotificationsService", protoFile: "rag/v1/notifications.proto", grpcPort: 50058, adminPort: 9608, database: true },
};

export function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}

/**
 * How a service process is started (cwd = repository root): tsx runs the TypeScript, and the telemetry
 * preload must come before the service's own imports so instrumentations can patch them (ESM).
 */
export function serviceNodeArgs(name: ServiceName): string[] {
  return ["--import", "tsx", "--import", "./mesh/telemetry/register.ts", `services/${name}/main.ts`];
}
