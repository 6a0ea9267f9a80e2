import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One `/v1/embeddings` request as the fake server received it. */
export interface ReceivedRequest {
  authorization: string | undefined;
  body: { model: string; input: string[]; encoding_format?: string; dimensions?: number };
}

/** What the fake answers to one request: vectors (default), an HTTP error, or nothing at all. */
export type Reply =
  | { kind: "vectors"; dimensions?: number }
  | { kind: "error"; status: number; headers?: Record<string, string>; message?: string }
  | { kind: "hang" };

export interface FakeOpenAI {
  /** e.g. http://127.0.0.1:41234/v1, for OPENAI_BASE_URL. */
  baseURL: string;
  received: ReceivedRequest[];
  /** Replies for the next requests, in order; once used up, every request gets `fallback`. */
  script: Reply[];
  fallback: Reply;
  /** Resolves once `count` requests have arrived. */
  requests(count: number): Promise<void>;
  /** Resolves when a request's connection closes before it was answered (a "hang" that the client gave up on). */
  abandoned(): Promise<void>;
  close(): Promise<void>;
}

/** The fake's vector for a text: deterministic, different per text, and deliberately not unit length. */
export function fakeVector(text: string, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, k) => text.charCodeAt(k % text.length) + k * text.length);
}

/** A real HTTP server on 127.0.0.1 that speaks the OpenAI embeddings API, for tests. */
export async function startFakeOpenAI(defaultDimensions = 4): Promise<FakeOpenAI> {
  const abandonedWaiters: (() => void)[] = [];
  const requestWaiters: { count: number; resolve: () => void }[] = [];
  const fake: Omit<FakeOpenAI, "baseURL"> = {
    received: [],
    script: [],
    fallback: { kind: "vectors" },
    requests: (count) =>
      new Promise((resolve) => (fake.received.length >= count ? resolve() : requestWaiters.push({ count, resolve }))),
    abandoned: () => new Promise((resolve) => abandonedWaiters.push(resolve)),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/embeddings") {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ReceivedRequest["body"];
      fake.received.push({ authorization: req.headers.authorization, body });
      for (const w of requestWaiters.filter((w) => fake.received.length >= w.count)) {
        requestWaiters.splice(requestWaiters.indexOf(w), 1);
        w.resolve();
      }
      const reply = fake.script.shift() ?? fake.fallback;
      if (reply.kind === "hang") {
        res.on("close", () => abandonedWaiters.splice(0).forEach((resolve) => resolve()));
        return;
      }
      if (reply.kind === "error") {
        const payload = { error: { message: reply.message ?? `fake error ${reply.status}`, type: "fake", code: null } };
        res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers }).end(JSON.stringify(payload));
        return;
      }
      const dims = reply.dimensions ?? body.dimensions ?? defaultDimensions;
      const data = body.input.map((text, index) => ({ object: "embedding", index, embedding: fakeVector(text, dims) }));
      const tokens = body.input.reduce((sum, t) => sum + t.split(/\s+/).length, 0);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", model: body.model, data, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, { baseURL: `http://127.0.0.1:${port}/v1` });
}
