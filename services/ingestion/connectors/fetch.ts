import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { pipeline, type Readable, type Transform } from "node:stream";
import { createBrotliDecompress, createGunzip } from "node:zlib";
import { requestPinned, resolveChecked, type EgressPolicy, type Resolver } from "#mesh/egress.js";

export interface FetchLimits {
  timeoutMs: number;
  maxBytes: number;
  userAgent: string;
  /** Allow hosts that resolve to loopback, private, link-local or otherwise internal addresses. */
  allowPrivate: boolean;
}

export interface Fetched {
  /** The URL finally answered, after redirects. */
  url: URL;
  status: number;
  /** MIME type without parameters, lower case; empty when the response names none. */
  contentType: string;
  charset: string | undefined;
  body: Buffer;
  lastModified: Date | undefined;
}

/** A fetch that could not complete; the message is safe to show to the job's owner. */
export class FetchError extends Error {
  override name = "FetchError";
}

const MAX_REDIRECTS = 5;

const REFUSAL = "the crawler does not visit internal addresses (INGESTION_WEB_ALLOW_PRIVATE)";

/** Content codings asked for and undone; the size cap applies to the decoded body. */
const DECODERS: Record<string, () => Transform> = { gzip: createGunzip, "x-gzip": createGunzip, br: createBrotliDecompress };

/**
 * GET with the crawler's limits: http(s) only, at most MAX_REDIRECTS redirects each checked with
 * `mayFollow`, one time limit for the whole exchange, and a cap on the body read. Each host is resolved once
 * and refused if internal (unless `allowPrivate`), and the connection goes only to the addresses checked.
 * Answers any HTTP status; throws FetchError when no complete answer could be had. `resolve` replaces the
 * system resolver (tests).
 */
export async function fetchLimited(
  start: URL,
  limits: FetchLimits,
  opts: { signal: AbortSignal; mayFollow?: (url: URL) => boolean; accept?: string; resolve?: Resolver },
): Promise<Fetched> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = AbortSignal.any([opts.signal, timeout]);
  const policy: EgressPolicy = { allowPrivate: limits.allowPrivate, refusal: REFUSAL, resolve: opts.resolve };
  const headers = {
    "user-agent": limits.userAgent,
    accept: opts.accept ?? "text/html,application/xhtml+xml,text/plain,text/markdown,application/pdf,*/*;q=0.5",
    "accept-encoding": Object.keys(DECODERS).join(", "),
  };
  let url = start;
  try {
    for (let hop = 0; ; hop++) {
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new FetchError(`only http and https can be fetched, not ${url.protocol}`);
      const res = await get(url, policy, headers, signal);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.destroy();
        if (hop >= MAX_REDIRECTS) throw new FetchError(`more than ${MAX_REDIRECTS} redirects`);
        const next = new URL(location, url);
        next.hash = "";
        if (opts.mayFollow && !opts.mayFollow(next)) throw new FetchError(`redirected to ${next.href}, outside the crawl's allowed hosts`);
        url = next;
        continue;
      }
      const [type, ...params] = (res.headers["content-type"] ?? "").split(";");
      const charset = params.map((p) => /^\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(p)?.[1]).find(Boolean);
      const modified = res.headers["last-modified"];
      const lastModified = modified ? new Date(modified) : undefined;
      return {
        url,
        status,
        contentType: type!.trim().toLowerCase(),
        charset,
        body: await readCapped(res, limits.maxBytes),
        lastModified: lastModified && !Number.isNaN(lastModified.getTime()) ? lastModified : undefined,
      };
    }
  } catch (err) {
    if (err instanceof FetchError) throw err;
    if (timeout.aborted) throw new FetchError(`no complete answer within ${limits.timeoutMs} ms`);
    if (opts.signal.aborted) throw new FetchError("stopped: the job is ending");
    throw new FetchError(`request failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** One GET to the checked addresses of `url`'s host; a refusal or unresolvable name is a FetchError naming the host. */
async function get(url: URL, policy: EgressPolicy, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<IncomingMessage> {
  const checked = await resolveChecked(url, policy, signal).catch((err: unknown) => {
    throw signal.aborted ? err : new FetchError((err as Error).message);
  });
  return new Promise((resolve, reject) => {
    requestPinned(url, checked, { headers, signal }, resolve).on("error", reject).end();
  });
}

async function readCapped(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    throw new FetchError(`body of ${declared} bytes is over the limit of ${maxBytes} bytes`);
  }
  const coding = (res.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const decoder = DECODERS[coding];
  if (!decoder && coding !== "identity") {
    res.destroy();
    throw new FetchError(`content encoding ${coding} is not supported`);
  }
  // pipeline passes an error of the response on to the decoder, where the loop below sees it.
  const body: Readable = decoder ? pipeline(res, decoder(), () => undefined) : res;
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      res.destroy();
      throw new FetchError(`body is over the limit of ${maxBytes} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
