import { Parser } from "htmlparser2";

export interface HtmlScan {
  title: string;
  /** Absolute link targets, resolved against the page URL (and <base href>), fragments removed. */
  links: URL[];
  /** Visible text with whitespace collapsed (scripts and styles left out). */
  text: string;
  /** <meta name="robots" content="nofollow">: the page asks crawlers not to follow its links. */
  nofollow: boolean;
}

const INVISIBLE = new Set(["script", "style", "noscript", "template", "svg", "head"]);

/** One pass over an html page: its title, its links and its visible text. */
export function scanHtml(html: string, pageUrl?: URL): HtmlScan {
  let base = pageUrl;
  const hrefs: string[] = [];
  let title = "";
  let inTitle = false;
  let hidden = 0;
  let nofollow = false;
  const text: string[] = [];
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (name === "title") inTitle = true;
        else if (INVISIBLE.has(name)) hidden++;
        if (name === "base" && attribs.href && pageUrl) base = resolve(attribs.href, pageUrl) ?? base;
        if ((name === "a" || name === "area") && attribs.href && !/\bnofollow\b/i.test(attribs.rel ?? "")) hrefs.push(attribs.href);
        if (name === "meta" && attribs.name?.toLowerCase() === "robots" && /\bnofollow\b|\bnone\b/i.test(attribs.content ?? "")) nofollow = true;
      },
      ontext(data) {
        if (inTitle) title += data;
        else if (hidden === 0) text.push(data);
      },
      onclosetag(name) {
        if (name === "title") inTitle = false;
        else if (INVISIBLE.has(name)) hidden = Math.max(0, hidden - 1);
        if (/^(p|div|li|h[1-6]|br|tr|section|article)$/.test(name)) text.push(" ");
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  const links: URL[] = [];
  if (base) {
    for (const href of hrefs) {
      const url = resolve(href, base);
      if (url) links.push(url);
    }
  }
  return { title: collapse(title), links, text: collapse(text.join("")), nofollow };
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
