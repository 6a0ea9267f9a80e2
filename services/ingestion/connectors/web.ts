import type { WebCrawlSource } from "#gen/rag/v1/ingestion.js";
import { scanHtml } from "../html.js";
import { WEB_DEFAULTS } from "../validate.js";
import { FetchError, fetchLimited, type FetchLimits } from "./fetch.js";
import { ALLOW_ALL, DISALLOW_ALL, parseRobots, type RobotsRules } from "./robots.js";
import type { Connector, ConnectorEvent } from "./types.js";

/** Response types that become documents, mapped to the type the documents service is given. */
const DOCUMENT_TYPES: Record<string, string> = {
  "text/html": "text/html",
  "application/xhtml+xml": "text/html",
  "text/plain": "text/plain",
  "text/markdown": "text/markdown",
  "text/x-markdown": "text/markdown",
  "application/pdf": "application/pdf",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
};

/** Links to these are never documents: not fetching them saves the page budget. */
const NOT_DOCUMENTS = /\.(png|jpe?g|gif|webp|svg|ico|bmp|tiff?|css|js|mjs|json|xml|rss|atom|zip|gz|tgz|bz2|xz|7z|rar|tar|exe|dmg|iso|apk|mp[34]|m4a|wav|ogg|webm|mov|avi|woff2?|ttf|otf|eot)$/i;

const ROBOTS_MAX_BYTES = 512 * 1024;

interface Robots {
  rules: RobotsRules;
  /** Why every path of the site is refused, when robots.txt could not be had; `unreachable` fails the items. */
  refusal?: { reason: string; unreachable: boolean };
}

/**
 * Breadth-first crawl from the start URLs: each html page (and linked text, markdown, pdf or docx file)
 * is one item whose source URI is its URL after redirects. Follows `<a href>` links on the allowed hosts
 * up to max_depth, fetches at most max_pages, honours robots.txt unless told not to.
 */
export function webCrawlConnector(source: WebCrawlSource, limits: FetchLimits): Connector {
  const maxPages = source.maxPages || WEB_DEFAULTS.maxPages;
  const maxDepth = source.maxDepth ?? WEB_DEFAULTS.maxDepth;
  const starts = source.startUrls.map((u) => normalise(new URL(u)));
  const hosts = new Set(source.allowedDomains.length > 0 ? source.allowedDomains.map((d) => d.trim().toLowerCase()) : starts.map((u) => u.hostname));
  const mayVisit = (u: URL) => (u.protocol === "http:" || u.protocol === "https:") && hosts.has(u.hostname.toLowerCase());

  return async function* (signal): AsyncGenerator<ConnectorEvent> {
    const robots = new Map<string, Promise<Robots>>();
    const robotsFor = (url: URL) => {
      let entry = robots.get(url.origin);
      if (!entry) robots.set(url.origin, (entry = readRobots(url, limits, signal)));
      return entry;
    };
    const seen = new Set<string>();
    const queue: { url: URL; depth: number }[] = [];
    for (const url of starts) {
      if (seen.has(url.href)) continue;
      seen.add(url.href);
      queue.push({ url, depth: 0 });
    }
    let fetched = 0;
    while (queue.length > 0 && !signal.aborted) {
      if (fetched >= maxPages) {
        yield { kind: "warning", message: `max_pages (${maxPages}) reached: ${queue.length} more linked page(s) were not fetched` };
        return;
      }
      const { url, depth } = queue.shift()!;
      if (!source.ignoreRobotsTxt) {
        const r = await robotsFor(url);
        if (r.refusal?.unreachable) {
          yield { kind: "failed", item: url.href, stage: "FETCH", message: r.refusal.reason };
          continue;
        }
        if (r.refusal || !r.rules.allows(url)) {
          yield { kind: "skipped", item: url.href, reason: r.refusal?.reason ?? "disallowed by robots.txt" };
          continue;
        }
      }
      let page;
      try {
        page = await fetchLimited(url, limits, { signal, mayFollow: mayVisit });
      } catch (err) {
        if (signal.aborted) return;
        yield { kind: "failed", item: url.href, stage: "FETCH", message: err instanceof FetchError ? err.message : String(err) };
        continue;
      }
      fetched++;
      const final = normalise(page.url);
      if (final.href !== url.href) {
        if (seen.has(final.href)) continue; // a redirect to a page this crawl already has
        seen.add(final.href);
      }
      if (page.status < 200 || page.status > 299) {
        yield { kind: "failed", item: url.href, stage: "FETCH", message: `HTTP ${page.status}` };
        continue;
      }
      const type = DOCUMENT_TYPES[page.contentType];
      if (!type) {
        yield { kind: "skipped", item: final.href, reason: `content type ${page.contentType || "(none)"} is not a document type` };
        continue;
      }
      // Text reaches the documents service as UTF-8 whatever the page's charset.
      const content = type.startsWith("text/") ? Buffer.from(decode(page.body, page.charset), "utf8") : page.body;
      let title = "";
      if (type === "text/html") {
        const scan = scanHtml(content.toString("utf8"), final);
        title = scan.title;
        if (depth < maxDepth && !scan.nofollow) {
          for (const link of scan.links) {
            const next = normalise(link);
            if (!mayVisit(next) || NOT_DOCUMENTS.test(next.pathname) || seen.has(next.href)) continue;
            seen.add(next.href);
            queue.push({ url: next, depth: depth + 1 });
          }
        }
      }
      yield {
        kind: "item",
        item: { item: final.href, sourceUri: final.href, filename: filenameOf(final), contentType: type, title, content, metadata: {}, documentTime: page.lastModified },
      };
    }
  };
}

/**
 * RFC 9309: 4xx means no rules; 5xx or no answer means assume everything is disallowed. No answer at all
 * (the site is unreachable, or refused as internal) fails the site's items instead of skipping them, so the
 * job reports the real cause.
 */
async function readRobots(url: URL, limits: FetchLimits, signal: AbortSignal): Promise<Robots> {
  try {
    const res = await fetchLimited(new URL("/robots.txt", url.origin), { ...limits, maxBytes: ROBOTS_MAX_BYTES }, { signal, accept: "text/plain" });
    if (res.status >= 200 && res.status < 300) return { rules: parseRobots(res.body.toString("utf8"), limits.userAgent) };
    if (res.status >= 400 && res.status < 500) return { rules: ALLOW_ALL };
    const reason = `robots.txt of ${url.origin} answered HTTP ${res.status}: the site is treated as disallowed (set ignore_robots_txt to crawl anyway)`;
    return { rules: DISALLOW_ALL, refusal: { reason, unreachable: false } };
  } catch (err) {
    return { rules: DISALLOW_ALL, refusal: { reason: `robots.txt of ${url.origin} could not be read: ${(err as Error).message}`, unreachable: true } };
  }
}

function normalise(url: URL): URL {
  const out = new URL(url.href);
  out.hash = "";
  return out;
}

function decode(body: Buffer, charset: string | undefined): string {
  try {
    return new TextDecoder(charset ?? "utf-8").decode(body);
  } catch {
    return new TextDecoder("utf-8").decode(body); // unknown charset label
  }
}

function filenameOf(url: URL): string {
  const last = url.pathname.split("/").filter(Boolean).pop();
  try {
    return last ? decodeURIComponent(last) : url.hostname;
  } catch {
    return last ?? url.hostname;
  }
}
