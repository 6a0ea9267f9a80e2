import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * CORS for browser clients. Allowed origins are echoed back (never "*", so the answer is the same whether
 * or not the browser sends credentials); any other origin gets no CORS headers and the browser blocks it.
 */

const ALLOWED_HEADERS = "authorization, content-type, x-api-key, x-request-id, accept, traceparent, tracestate";
const EXPOSED_HEADERS = "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy";
const MAX_AGE_SECONDS = "600";

export class Cors {
  private readonly anyOrigin: boolean;
  private readonly origins: Set<string>;

  constructor(allowedOrigins: string[]) {
    this.anyOrigin = allowedOrigins.includes("*");
    this.origins = new Set(allowedOrigins.filter((o) => o !== "*"));
  }

  get enabled(): boolean {
    return this.anyOrigin || this.origins.size > 0;
  }

  /** A browser's preflight: OPTIONS naming the method it wants to use. */
  isPreflight(req: IncomingMessage): boolean {
    return this.enabled && req.method === "OPTIONS" && req.headers.origin !== undefined && req.headers["access-control-request-method"] !== undefined;
  }

  /** Headers for an actual (non-preflight) response. */
  applyTo(req: IncomingMessage, res: ServerResponse): void {
    if (!this.enabled) return;
    res.setHeader("vary", "Origin");
    const origin = this.allowed(req);
    if (!origin) return;
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
  }

  /** Answers a preflight with 204; `methods` are the verbs the path accepts. */
  answerPreflight(req: IncomingMessage, res: ServerResponse, methods: string[], headers: Record<string, string>): void {
    res.setHeader("vary", "Origin");
    const origin = this.allowed(req);
    if (origin) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-allow-methods", methods.join(", "));
      res.setHeader("access-control-allow-headers", ALLOWED_HEADERS);
      res.setHeader("access-control-max-age", MAX_AGE_SECONDS);
    }
    res.writeHead(204, headers);
    res.end();
  }

  private allowed(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    return this.anyOrigin || this.origins.has(origin) ? origin : undefined;
  }
}
