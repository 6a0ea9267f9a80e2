import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

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

const INTERNAL = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) INTERNAL.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96]] as const) INTERNAL.addSubnet(net, bits, "ipv6");

function isInternal(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return INTERNAL.check(mapped[1]!, "ipv4");
  return INTERNAL.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");
}

/**
 * Refuses hosts that resolve to internal addresses, so a crawl cannot reach cloud metadata or services
 * behind the firewall. The check resolves the name once and fetch resolves it again, so a DNS answer that
 * changes in between (rebinding) is not caught: deployments that must be sure also block egress to
 * internal ranges at the network.
 */
async function checkHost(url: URL, limits: FetchLimits): Promise<void> {
  if (limits.allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: { address: string }[];
  try {
    addresses = isIP(host) ? [{ address: host }] : await lookup(host, { all: true });
  } catch (err) {
    throw new FetchError(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (addresses.some((a) => isInternal(a.address))) {
    throw new FetchError(`${host} resolves to an internal address, which the crawler does not visit (INGESTION_WEB_ALLOW_PRIVATE)`);
  }
}

/**
 * GET with the crawler's limits: http(s) only, at most MAX_REDIRECTS redirects each checked with
 * `mayFollow`, one time limit for the whole exchange, and a cap on the body read. Answers any HTTP status;
 * throws FetchError when no complete answer could be had.
 */
export async function fetchLimited(start: URL, limits: FetchLimits, opts: { signal: AbortSignal; mayFollow?: (url: URL) => boolean; accept?: string }): Promise<Fetched> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = AbortSignal.any([opts.signal, timeout]);
  let url = start;
  try {
    for (let hop = 0; ; hop++) {
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new FetchError(`only http and https can be fetched, not ${url.protocol}`);
      await checkHost(url, limits);
      const res = await fetch(url, {
        redirect: "manual",
        signal,
        headers: { "user-agent": limits.userAgent, accept: opts.accept ?? "text/html,application/xhtml+xml,text/plain,text/markdown,application/pdf,*/*;q=0.5" },
      });
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        if (hop >= MAX_REDIRECTS) throw new FetchError(`more than ${MAX_REDIRECTS} redirects`);
        const next = new URL(location, url);
        next.hash = "";
        if (opts.mayFollow && !opts.mayFollow(next)) throw new FetchError(`redirected to ${next.href}, outside the crawl's allowed hosts`);
        url = next;
        continue;
      }
      const [type, ...params] = (res.headers.get("content-type") ?? "").split(";");
      const charset = params.map((p) => /^\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(p)?.[1]).find(Boolean);
      const modified = res.headers.get("last-modified");
      const lastModified = modified ? new Date(modified) : undefined;
      return {
        url,
        status: res.status,
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
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new FetchError(`request failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

async function readCapped(res: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new FetchError(`body of ${declared} bytes is over the limit of ${maxBytes} bytes`);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const parts: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts);
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new FetchError(`body is over the limit of ${maxBytes} bytes`);
    }
    parts.push(Buffer.from(value));
  }
}
