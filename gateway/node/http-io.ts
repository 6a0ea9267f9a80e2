import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { status } from "@grpc/grpc-js";
import type { JsonValue } from "@bufbuild/protobuf";
import { HttpError, invalidArgument } from "./errors.js";

/** Reading requests and writing JSON responses over node:http. */

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/** The caller's X-Request-Id when it is 1–128 visible ASCII characters, else a fresh UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  if (typeof given === "string" && /^[\x21-\x7e]{1,128}$/.test(given)) return given;
  return randomUUID();
}

export function sendJson(res: ServerResponse, statusCode: number, body: JsonValue | object, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, { ...headers, "content-type": JSON_CONTENT_TYPE, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** True when the request carries a body: a non-zero Content-Length or a chunked transfer. */
export function hasBody(req: IncomingMessage): boolean {
  if (req.headers["transfer-encoding"] !== undefined) return true;
  const length = req.headers["content-length"];
  return length !== undefined && length !== "0";
}

function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mime = contentType.split(";")[0].trim().toLowerCase();
  return mime === "application/json" || (mime.startsWith("application/") && mime.endsWith("+json"));
}

function tooLarge(limit: number): HttpError {
  // The unread rest of the body would otherwise be parsed as the next request on this connection.
  return new HttpError(413, status.INVALID_ARGUMENT, `request body exceeds the limit of ${limit} bytes`, { headers: { connection: "close" } });
}

/**
 * The JSON body, or undefined when there is none (the caller treats that as `{}`). 415 for a body that is
 * not JSON, 413 as soon as the declared or received size passes `limit` (reading stops there), 400 naming
 * the position of malformed JSON.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<JsonValue | undefined> {
  if (!hasBody(req)) return undefined;
  const contentType = req.headers["content-type"];
  if (!isJson(contentType)) {
    throw new HttpError(415, status.INVALID_ARGUMENT, `unsupported content type ${JSON.stringify(contentType ?? "")}: the body must be application/json`, {
      headers: { connection: "close" },
    });
  }
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);

  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    // The client hung up mid-body: nobody is left to answer, but the request must not wait forever.
    const onClose = () => {
      cleanup();
      reject(new HttpError(499, status.CANCELLED, "the client closed the connection before sending the whole body"));
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
  const text = Buffer.concat(chunks).toString("utf8");
  if (text === "") return undefined;
  // Blank is not empty: a body of only whitespace is no JSON value, and taking it for "no body" would accept
  // a request the contract says must have one.
  if (text.trim() === "") throw invalidArgument("invalid request body: it is blank; send a JSON object");
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw invalidArgument(`invalid request body: malformed JSON: ${(err as Error).message}`);
  }
}
