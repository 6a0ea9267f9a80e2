import { Parser } from "htmlparser2";

export interface HtmlScan {
  title: string;
  /** Absolute link targets, resolved against the page URL (and <base href>), fragments removed. */
  links: URL[];
  /** Visible text with whitespace collapsed (scripts and styles left out). */
  text: string;
  /** <meta name="robots" content="nofollow">: the page asks crawlers not to follow its links. */
  nofollow: boolean;
  /**
   * The scan hit one of the limits below: it stopped at nesting too deep or too much text, and kept only
   * the first MAX_LINKS links. What it found stands; the documents service, which parses the page for real, refuses it by its
   * own limits (PARSE_MAX_HTML_DEPTH, PARSE_MAX_TEXT_CHARS) with a message naming them.
   */
  truncated: boolean;
}

const INVISIBLE = new Set(["script", "style", "noscript", "template", "svg", "head"]);

/*
 * Bounds on one page, whatever its size. htmlparser2 keeps open elements in an array it shifts and searches
 * on every tag, so a page nested 100,000 deep with mismatched end tags costs minutes of this event loop
 * (quadratic); stopping at the depth the documents service accepts keeps every tag O(limit).
 */
export const MAX_HTML_DEPTH = 500;
export const MAX_TEXT_CHARS = 20_000_000;
export const MAX_LINKS = 10_000;

/** Thrown from a parser callback to stop the scan; never leaves scanHtml. */
class StopScan extends Error {}

/** One pass over an html page: its title, its links and its visible text. */
export function scanHtml(html: string, pageUrl?: URL): HtmlScan {
  let base = pageUrl;
  const hrefs: string[] = [];
  let title = "";
  let inTitle = false;
  let hidden = 0;
  let nofollow = false;
  let depth = 0;
  let textChars = 0;
  let truncated = false;
  const stop = () => {
    truncated = true;
    throw new StopScan();
  };
  const text: string[] = [];
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (++depth > MAX_HTML_DEPTH) stop();
        if (name === "title") inTitle = true;
        else if (INVISIBLE.has(name)) hidden++;
        if (name === "base" && attribs.href && pageUrl) base = resolve(attribs.href, pageUrl) ?? base;
        if ((name === "a" || name === "area") && attribs.href && !/\bnofollow\b/i.test(attribs.rel ?? "")) {
          // Past the limit the page's links are dropped, its text still read.
          if (hrefs.length < MAX_LINKS) hrefs.push(attribs.href);
          else truncated = true;
        }
        if (name === "meta" && attribs.name?.toLowerCase() === "robots" && /\bnofollow\b|\bnone\b/i.test(attribs.content ?? "")) nofollow = true;
      },
      ontext(data) {
        textChars += data.length;
        if (textChars > MAX_TEXT_CHARS) stop();
        if (inTitle) title += data;
        else if (hidden === 0) text.push(data);
      },
      onclosetag(name) {
        depth--;
        if (name === "title") inTitle = false;
        else if (INVISIBLE.has(name)) hidden = Math.max(0, hidden - 1);
        if (/^(p|div|li|h[1-6]|br|tr|section|article)$/.test(name)) text.push(" ");
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  try {
    parser.write(html);
    parser.end();
  } catch (err) {
    if (!(err instanceof StopScan)) throw err;
  }
  const links: URL[] = [];
  if (base) {
    for (const href of hrefs) {
      const url = resolve(href, base);
      if (url) links.push(url);
    }
  }
  return { title: collapse(title), links, text: collapse(text.join("")), nofollow, truncated };
}

function resolve(href: string, base: URL): URL | undefined {
  try {
    const url = new URL(href.trim(), base);
    url.hash = "";
    return url;
  } catch {
    return undefined;
  }
}

function collapse(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}
