/**
 * A real HTTP server on 127.0.0.1 that speaks the OpenAI chat completions API, plain and streamed (SSE
 * `data:` chunks, a usage chunk when asked for, `data: [DONE]`), for tests of the openai provider and of
 * the service. Each request is answered by the test's `reply` function; every request body is recorded.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

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

export interface FakeOpenAI {
  /** Base URL to hand to the SDK, ending in /v1. */
  baseURL: string;
  requests: ChatRequest[];
  /** Replies to the next request; set by each test. */
  reply: (request: ChatRequest, attempt: number) => FakeReply;
  /** Resolves when a request arrives that got `{ hang: true }` and its client has gone away. */
  hungUp: Promise<void>;
  close(): Promise<void>;
}

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  let signalHungUp: () => void = () => undefined;
  const fake: FakeOpenAI = {
    baseURL: "",
    requests: [],
    reply: () => ({ pieces: ["ok"] }),
    hungUp: new Promise<void>((resolve) => (signalHungUp = resolve)),
    close: async () => undefined,
  };
  const server = createServer((req, res) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ChatRequest;
    fake.requests.push(body);
    const reply = fake.reply(body, fake.requests.length);
    if ("hang" in reply) {
      res.once("close", () => signalHungUp());
      return;
    }
    if ("status" in reply) {
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(JSON.stringify({ error: { message: reply.message ?? `fake error ${reply.status}`, type: "fake_error" } }));
      return;
    }
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

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  fake.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  fake.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return fake;
}

/** The passage texts the prompt showed the model, by marker number, read back from the user message. */
export function passagesInPrompt(request: ChatRequest): Map<number, string> {
  const user = request.messages.find((m) => m.role === "user")?.content ?? "";
  const out = new Map<number, string>();
  for (const m of user.matchAll(/^\[(\d+)\][^\n]*\n([^\n]*)/gm)) out.set(Number(m[1]), m[2]!);
  return out;
}
