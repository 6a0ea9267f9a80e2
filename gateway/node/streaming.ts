import type { ServerResponse } from "node:http";
import type { JsonValue } from "@bufbuild/protobuf";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { errorBody, type HttpError } from "./errors.js";

/**
 * Relays a server-streaming RPC to an HTTP client as Server-Sent Events (default) or NDJSON
 * (`Accept: application/x-ndjson`, grpc-gateway's `{"result":...}` / `{"error":...}` lines). Each message is
 * written as it arrives; the upstream stream is paused while the client's socket is backed up.
 */

export type StreamFormat = "sse" | "ndjson";

export function streamFormatFor(accept: string | undefined): StreamFormat {
  return accept !== undefined && /(^|,)\s*application\/x-ndjson\s*(;|,|$)/i.test(accept) ? "ndjson" : "sse";
}

export interface RelayOptions {
  format: StreamFormat;
  render(bytes: Buffer): JsonValue;
  /** Maps an upstream failure (or a rendering failure) to the error the client sees. */
  toError(err: unknown): HttpError;
  /** Called when nothing was streamed yet: the failure is answered as an ordinary JSON error response. */
  sendError(err: HttpError): void;
  /**
   * The SSE `id:` of a message, for messages that carry their own resume point (WatchJob's `sequence`):
   * a client that reconnects sends it back as `Last-Event-ID`. Otherwise messages are numbered from 1.
   */
  eventId?(message: JsonValue): string | undefined;
}

export interface RelayedStream {
  /** Resolves with the HTTP status the client saw once the relay is over (client gone included). */
  done: Promise<number>;
  /** Ends the stream with an error event now (e.g. the gateway is shutting down). */
  abort(err: HttpError): void;
}

export function relayStream(call: ClientReadableStream<Buffer>, res: ServerResponse, opts: RelayOptions): RelayedStream {
  let started = false;
  let finished = false;
  let sent = 0;
  let resolveDone!: (status: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  const finish = (status: number) => {
    if (finished) return;
    finished = true;
    resolveDone(status);
  };

  const start = () => {
    if (started) return;
    started = true;
    // Headers set earlier on `res` (request id, CORS, policy) are merged in by writeHead.
    res.writeHead(200, {
      "content-type": opts.format === "sse" ? "text/event-stream; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      "cache-control": "no-cache",
      // Proxies such as nginx would otherwise buffer the stream.
      "x-accel-buffering": "no",
    });
    res.socket?.setNoDelay(true);
  };

  const write = (text: string) => {
    if (!res.write(text)) {
      call.pause();
      res.once("drain", () => call.resume());
    }
  };

  const fail = (err: unknown) => {
    if (finished) return;
    const error = opts.toError(err);
    if (!started) {
      finish(error.status);
      opts.sendError(error);
      return;
    }
    const body = errorBody(error);
    write(opts.format === "sse" ? `event: error\ndata: ${JSON.stringify(body)}\n\n` : `${JSON.stringify({ error: body })}\n`);
    finish(200);
    res.end();
  };

  call.on("data", (bytes: Buffer) => {
    if (finished) return;
    let json: JsonValue;
    try {
      json = opts.render(bytes);
    } catch (err) {
      call.cancel();
      fail(err);
      return;
    }
    start();
    sent++;
    const id = opts.eventId?.(json) ?? String(sent);
    write(opts.format === "sse" ? `id: ${id}\ndata: ${JSON.stringify(json)}\n\n` : `${JSON.stringify({ result: json })}\n`);
  });
  call.on("error", fail);
  call.on("end", () => {
    if (finished) return;
    start();
    if (opts.format === "sse") write("event: end\ndata: {}\n\n");
    finish(200);
    res.end();
  });
  // The client went away: stop the upstream work it asked for.
  res.on("close", () => {
    if (finished) return;
    finish(started ? 200 : 499);
    call.cancel();
  });

  return {
    done,
    abort(err: HttpError) {
      if (finished) return;
      fail(err);
      call.cancel();
    },
  };
}
