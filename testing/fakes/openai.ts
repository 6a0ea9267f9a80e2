/**
 * Test double of an OpenAI-compatible HTTP API, the contract of https://platform.openai.com/docs/api-reference
 * as the `openai` npm client speaks it: `POST /v1/chat/completions` (plain, and streamed as SSE `data:`
 * chunks with a usage chunk when asked for and `data: [DONE]`) and `POST /v1/embeddings`. A real HTTP server
 * on 127.0.0.1 for the generation and embeddings providers' tests. Both routes share the server, the
 * OpenAI-style error body and the "never answer" reply; each keeps the test-facing knobs its callers use.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

type Route = (body: unknown, req: IncomingMessage, res: ServerResponse) => void;

interface Listening {
  /** Base URL to hand to the SDK (OPENAI_BASE_URL), ending in /v1. */
  baseURL: string;
  close(): Promise<void>;
}

/** A loopback server answering `routes` (by path under /v1, POST only) and 404 for anything else. */
async function listen(routes: Record<string, Route>): Promise<Listening> {
  const server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const route = req.method === "POST" && req.url?.startsWith("/v1/") ? routes[req.url.slice("/v1/".length)] : undefined;
    if (!route) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
      return;
    }
    route(JSON.parse(Buffer.concat(chunks).toString("utf8")), req, res);
  }
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An HTTP error with the body OpenAI sends, so the SDK raises its typed error with our message. */
function sendError(res: ServerResponse, status: number, message: string | undefined, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ error: { message: message ?? `fake error ${status}`, type: "fake_error", code: null } }));
}

// ---- chat completions -------------------------------------------------------------------------------

export interface ChatRequest {
  model: string;
  messages: { role: string; content: string }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  temperature?: number;
}

export type FakeReply =
  /** A completion: `pieces` are the streamed deltas (joined for a plain reply). */
  | { pieces: string[]; finishReason?: string; usage?: { prompt_tokens: number; completion_tokens: number } | null; failAfter?: number }
  /** An HTTP error with an OpenAI-style error body. */
  | { status: number; message?: string; headers?: Record<string, string> }
  /** Never answer (deadline and cancellation tests). */
  | { hang: true };

export interface FakeChatCompletions extends Listening {
  requests: ChatRequest[];
  /** Replies to the next request; set by each test. */
  reply: (request: ChatRequest, attempt: number) => FakeReply;
  /** Resolves when a request arrives that got `{ hang: true }` and its client has gone away. */
  hungUp: Promise<void>;
}

export async function startFakeChatCompletions(): Promise<FakeChatCompletions> {
  let signalHungUp: () => void = () => undefined;
  const state = {
    requests: [] as ChatRequest[],
    reply: (() => ({ pieces: ["ok"] })) as FakeChatCompletions["reply"],
    hungUp: new Promise<void>((resolve) => (signalHungUp = resolve)),
  };
  const server = await listen({ "chat/completions": (body, _req, res) => complete(body as ChatRequest, res) });

  function complete(body: ChatRequest, res: ServerResponse) {
    fake.requests.push(body);
    const reply = fake.reply(body, fake.requests.length);
    if ("hang" in reply) {
      res.once("close", () => signalHungUp());
      return;
    }
    if ("status" in reply) return sendError(res, reply.status, reply.message, reply.headers);
    const id = `chatcmpl-${fake.requests.length}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = reply.usage === null ? undefined : { ...(reply.usage ?? { prompt_tokens: 11, completion_tokens: 7 }) };
    const fullUsage = usage && { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
    const finish = reply.finishReason ?? "stop";
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id,
          object: "chat.completion",
          created,
          model: body.model,
          choices: [{ index: 0, message: { role: "assistant", content: reply.pieces.join("") }, finish_reason: finish, logprobs: null }],
          ...(fullUsage ? { usage: fullUsage } : {}),
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const send = (data: unknown) => res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
    const chunk = (delta: object, finishReason: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model: body.model,
      choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    });
    send(chunk({ role: "assistant", content: "" }, null));
    for (const [i, piece] of reply.pieces.entries()) {
      if (reply.failAfter !== undefined && i === reply.failAfter) {
        // The connection drops mid-answer, once the tokens so far have reached the client.
        res.write(": dropping\n\n", () => res.destroy());
        return;
      }
      send(chunk({ content: piece }, null));
    }
    send(chunk({}, finish));
    if (body.stream_options?.include_usage && fullUsage) send({ id, object: "chat.completion.chunk", created, model: body.model, choices: [], usage: fullUsage });
    send("[DONE]");
    res.end();
  }

  const fake: FakeChatCompletions = Object.assign(state, server);
  return fake;
}

/** The passage texts the prompt showed the model, by marker number, read back from the user message. */
export function passagesInPrompt(request: ChatRequest): Map<number, string> {
  const user = request.messages.find((m) => m.role === "user")?.content ?? "";
  const out = new Map<number, string>();
  for (const m of user.matchAll(/^\[(\d+)\][^\n]*\n([^\n]*)/gm)) out.set(Number(m[1]), m[2]!);
  return out;
}

// ---- embeddings -------------------------------------------------------------------------------------

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

export interface FakeEmbeddingsAPI extends Listening {
  received: ReceivedRequest[];
  /** Replies for the next requests, in order; once used up, every request gets `fallback`. */
  script: Reply[];
  fallback: Reply;
  /** Resolves once `count` requests have arrived. */
  requests(count: number): Promise<void>;
  /** Resolves when a request's connection closes before it was answered (a "hang" that the client gave up on). */
  abandoned(): Promise<void>;
}

/** The fake's vector for a text: deterministic, different per text, and deliberately not unit length. */
export function fakeEmbedding(text: string, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, k) => text.charCodeAt(k % text.length) + k * text.length);
}

export async function startFakeEmbeddingsAPI(defaultDimensions = 4): Promise<FakeEmbeddingsAPI> {
  const abandonedWaiters: (() => void)[] = [];
  const requestWaiters: { count: number; resolve: () => void }[] = [];
  const state = {
    received: [] as ReceivedRequest[],
    script: [] as Reply[],
    fallback: { kind: "vectors" } as Reply,
    requests: (count: number) =>
      new Promise<void>((resolve) => (fake.received.length >= count ? resolve() : requestWaiters.push({ count, resolve }))),
    abandoned: () => new Promise<void>((resolve) => abandonedWaiters.push(resolve)),
  };
  const server = await listen({ embeddings: (body, req, res) => embed(body as ReceivedRequest["body"], req, res) });

  function embed(body: ReceivedRequest["body"], req: IncomingMessage, res: ServerResponse) {
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
    if (reply.kind === "error") return sendError(res, reply.status, reply.message, reply.headers);
    const dims = reply.dimensions ?? body.dimensions ?? defaultDimensions;
    const data = body.input.map((text, index) => ({ object: "embedding", index, embedding: fakeEmbedding(text, dims) }));
    const tokens = body.input.reduce((sum, t) => sum + t.split(/\s+/).length, 0);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ object: "list", model: body.model, data, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
  }

  const fake: FakeEmbeddingsAPI = Object.assign(state, server);
  return fake;
}
