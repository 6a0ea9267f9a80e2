/**
 * Starts a set of the service test doubles in this process, each on its own loopback gRPC server (as each
 * real service has its own address), and gives the RAG_ENDPOINTS value that points a service under test at
 * them, in the order the names were given:
 *
 *   const fakes = await startFakes("embeddings", "retrieval", "generation");
 *   await startServiceProcess("query", { RAG_ENDPOINTS: fakes.endpoints });
 *   fakes.generation.behaviour.generate = async () => { throw new UnavailableError("down") };
 */
import { CATALOGUE } from "#mesh/catalogue.js";
import type { RunningServer } from "#mesh/server.js";
import { startFakeServer } from "#testing/grpc.js";
import { FakeDocuments } from "./documents.js";
import { FakeEmbeddings } from "./embeddings.js";
import { FakeGeneration } from "./generation.js";
import { FakeNotifications } from "./notifications.js";
import { FakeRetrieval } from "./retrieval.js";

const FAKES = {
  documents: () => new FakeDocuments(),
  embeddings: () => new FakeEmbeddings(),
  retrieval: () => new FakeRetrieval(),
  generation: () => new FakeGeneration(),
  notifications: () => new FakeNotifications(),
};

type Fakes = { [N in keyof typeof FAKES]: ReturnType<(typeof FAKES)[N]> };
export type FakeName = keyof Fakes;

export type FakeSet<N extends FakeName> = Pick<Fakes, N> & {
  /** RAG_ENDPOINTS value pointing each faked dependency at its fake. */
  readonly endpoints: string;
  /** Every fake forgets what it received and takes its default behaviour again. */
  reset(): void;
  stop(): Promise<void>;
};

export async function startFakes<N extends FakeName>(...names: N[]): Promise<FakeSet<N>> {
  const fakes: Partial<Fakes> = {};
  const servers: RunningServer[] = [];
  const endpoints: string[] = [];
  const stop = async () => void (await Promise.all(servers.map((s) => s.shutdown())));
  try {
    for (const name of names) {
      const fake = FAKES[name]();
      const server = await startFakeServer([fake.service()], [CATALOGUE[name].protoFile]);
      servers.push(server);
      (fakes as Record<FakeName, unknown>)[name] = fake;
      endpoints.push(`${name}=127.0.0.1:${server.grpcPort}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const started = names.map((n) => fakes[n]!);
  return Object.assign(fakes as Pick<Fakes, N>, {
    endpoints: endpoints.join(","),
    reset: () => started.forEach((f) => f.reset()),
    stop,
  });
}
