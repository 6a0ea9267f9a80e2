/**
 * A small client for the REST gateway in tests: JSON in and out, one credential per client, and readers for
 * the two shapes a server stream takes over HTTP (Server-Sent Events and NDJSON).
 */
import assert from "node:assert/strict";

/** How a request proves who it is: an API key in `X-API-Key`, a bearer credential, or nothing. */
export type Credential = { apiKey: string } | { bearer: string } | "none";

export interface RestResponse {
  status: number;
  headers: Headers;
  /** The raw body. */
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON (e.g. an event stream). */
  json: any;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
}

/** The `{code,status,message,details}` body every gateway error has. */
export interface ErrorJson {
  code: number;
  status: string;
  message: string;
  details: { field?: string }[];
}

export class RestClient {
  constructor(
    readonly baseUrl: string,
    readonly credential: Credential = "none",
  ) {
    if (!/^http:\/\/(127\.0\.0\.1|\[::1\]|localhost):\d+$/.test(baseUrl)) throw new Error(`baseUrl: expected a loopback http://host:port, got ${JSON.stringify(baseUrl)}`);
  }

  /** The same gateway with another credential. */
  as(credential: Credential): RestClient {
    return new RestClient(this.baseUrl, credential);
  }

  async request(verb: string, path: string, opts: RequestOptions = {}): Promise<RestResponse> {
    if (!path.startsWith("/")) throw new Error(`path: expected an absolute path, got ${JSON.stringify(path)}`);
    const headers: Record<string, string> = { ...this.credentialHeaders(), ...opts.headers };
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(this.baseUrl + path, { method: verb, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  get(path: string, opts?: RequestOptions) {
    return this.request("GET", path, opts);
  }
  post(path: string, body: unknown = {}, opts: RequestOptions = {}) {
    return this.request("POST", path, { ...opts, body });
  }
  patch(path: string, body: unknown, opts: RequestOptions = {}) {
    return this.request("PATCH", path, { ...opts, body });
  }
  delete(path: string, opts?: RequestOptions) {
    return this.request("DELETE", path, opts);
  }

  private credentialHeaders(): Record<string, string> {
    const c = this.credential;
    if (c === "none") return {};
    if ("apiKey" in c) return { "x-api-key": c.apiKey };
    return { authorization: `Bearer ${c.bearer}` };
  }
}

/** The body of a successful (2xx) response; fails with the status and body otherwise. */
export function ok(res: RestResponse, what: string): any {
  assert.ok(res.status >= 200 && res.status < 300, `${what}: expected 2xx, got ${res.status}: ${res.text.slice(0, 500)}`);
  return res.json;
}

/** Asserts an error response: HTTP status, gRPC status name, and the `{code,status,message,details}` shape. */
export function expectError(res: RestResponse, httpStatus: number, grpcStatus: string, what: string): ErrorJson {
  assert.equal(res.status, httpStatus, `${what}: expected HTTP ${httpStatus} ${grpcStatus}, got ${res.status}: ${res.text.slice(0, 500)}`);
  const body = res.json as ErrorJson | undefined;
  assert.ok(body && typeof body === "object", `${what}: the error body is not JSON: ${res.text.slice(0, 200)}`);
  assert.equal(body.status, grpcStatus, `${what}: ${res.text.slice(0, 500)}`);
  assert.equal(typeof body.code, "number", `${what}: error code`);
  assert.equal(typeof body.message, "string", `${what}: error message`);
  assert.ok(Array.isArray(body.details), `${what}: error details`);
  return body;
}

/** One Server-Sent Event: its `event:` name ("message" when absent) and its `data:` parsed as JSON. */
export interface SseEvent {
  event: string;
  data: any;
}

/** The events of a complete text/event-stream body (blocks separated by a blank line). */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.trim() === "") continue;
    let event = "message";
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (data.length === 0) throw new Error(`SSE block without data: ${JSON.stringify(block)}`);
    events.push({ event, data: JSON.parse(data.join("\n")) });
  }
  return events;
}

/** The objects of a complete application/x-ndjson body, one per non-empty line. */
export function parseNdjson(text: string): any[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
}

/**
 * A server stream over SSE: checks the content type, that every message is a `data:` event and that the
 * stream closes with `event: end`, and returns the messages.
 */
export function sseMessages(res: RestResponse, what: string): any[] {
  assert.equal(res.status, 200, `${what}: ${res.text.slice(0, 500)}`);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/, `${what}: content type`);
  const events = parseSse(res.text);
  assert.ok(events.length >= 2, `${what}: expected messages and an end event, got ${res.text.slice(0, 500)}`);
  assert.deepEqual(events.at(-1), { event: "end", data: {} }, `${what}: the stream ends with "event: end"`);
  const messages = events.slice(0, -1);
  const failed = messages.find((e) => e.event !== "message");
  assert.equal(failed, undefined, `${what}: unexpected event ${JSON.stringify(failed)}`);
  return messages.map((e) => e.data);
}

/** A server stream over NDJSON: checks the content type and that every line is a `{"result": …}`; returns the results. */
export function ndjsonMessages(res: RestResponse, what: string): any[] {
  assert.equal(res.status, 200, `${what}: ${res.text.slice(0, 500)}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/x-ndjson/, `${what}: content type`);
  const lines = parseNdjson(res.text);
  assert.ok(lines.length >= 1, `${what}: no lines`);
  const bad = lines.find((l) => !(l && typeof l === "object" && "result" in l));
  assert.equal(bad, undefined, `${what}: a line that is not a result: ${JSON.stringify(bad)}`);
  return lines.map((l) => l.result);
}

/** Polls `read` until `done` holds for its value; fails with the last value after `attempts` tries. */
export async function pollUntil<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, attempts = 300, intervalMs = 100): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < attempts; i++) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what}: not reached after ${attempts} tries; last: ${JSON.stringify(last).slice(0, 500)}`);
}
