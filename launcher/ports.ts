/**
 * Port checks done before anything is spawned, so a clash reads "port 50051 (documents gRPC) is in use"
 * instead of a service crashing with EADDRINUSE somewhere in the interleaved logs.
 */
import net from "node:net";

export const LOOPBACK = "127.0.0.1";

/** True when nothing listens on host:port (we can bind it ourselves for a moment). */
export function isPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export interface PortClaim {
  port: number;
  /** What wants the port, for the error message: "documents gRPC". */
  owner: string;
}

/** Throws one error listing every claimed port that is taken or claimed twice. */
export async function assertPortsFree(claims: PortClaim[], hint = ""): Promise<void> {
  const problems: string[] = [];
  const seen = new Map<number, string>();
  for (const { port, owner } of claims) {
    const other = seen.get(port);
    if (other) problems.push(`port ${port} is wanted by both ${other} and ${owner}`);
    seen.set(port, owner);
  }
  const taken = await Promise.all(claims.map(async (c) => ((await isPortFree(c.port)) ? null : c)));
  for (const c of taken) if (c) problems.push(`port ${c.port} (${c.owner}) is already in use`);
  if (problems.length === 0) return;
  const shown = problems.length > 4 ? [...problems.slice(0, 3), `and ${problems.length - 3} more`] : problems;
  throw new Error(`${shown.join("; ")}${hint ? `. ${hint}` : ""}`);
}

/** A port the OS just handed out as free; someone may still grab it before you do. */
export function findFreePort(host = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port: 0, host }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * First port of `count` consecutive free ports, for RAG_GRPC_PORT_BASE-style settings. Starts from a
 * random spot in the ephemeral-free range 20000-39999 so parallel test runs rarely collide.
 */
export async function findFreePortRange(count: number, avoid: ReadonlySet<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (20000 - count));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if (ports.some((p) => avoid.has(p))) continue;
    const free = await Promise.all(ports.map((p) => isPortFree(p)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`could not find ${count} consecutive free ports`);
}
