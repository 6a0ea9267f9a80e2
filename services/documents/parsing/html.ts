import { DomUtils, Parser, parseDocument } from "htmlparser2";
import { assemble, type Block, type ParsedText } from "./blocks.js";
import { DEFAULT_LIMITS, LimitExceeded, type ParseLimits } from "./limits.js";
import { oneLine } from "./normalise.js";

/*
 * HTML to the text a reader of the page came for: the main content with its h1-h6 structure. Chrome
 * (navigation, banners, footers, sidebars), code (script, style, template) and forms are dropped. When
 * the page marks its main content (<main>, role=main, or <article>), only that is read.
 */

type DomNode = ReturnType<typeof parseDocument>["children"][number];
type DomElement = Parameters<typeof DomUtils.getAttributeValue>[0];
type DomText = Extract<DomNode, { data: string }>;

// domutils 4 no longer re-exports domhandler's guards, and domhandler is not a dependency of ours.
const isElement = (node: { type: string }): node is DomElement => node.type === "tag" || node.type === "script" || node.type === "style";
const isText = (node: { type: string }): node is DomText => node.type === "text";

const DROPPED = new Set([
  "head", "script", "style", "noscript", "template", "nav", "aside", "form", "button", "select", "textarea",
  "input", "option", "datalist", "svg", "math", "canvas", "iframe", "object", "embed", "audio", "video",
  "picture", "map", "dialog",
]);
const DROPPED_ROLES = new Set(["navigation", "banner", "contentinfo", "complementary", "search"]);
/** <header>/<footer> are page chrome (banner, contentinfo) unless they belong to one of these (HTML-AAM). */
const SECTIONING = new Set(["article", "aside", "main", "nav", "section"]);
const BLOCKS = new Set([
  "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "div", "dl", "dt",
  "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "hr", "html", "legend", "main", "menu",
  "ol", "p", "section", "summary", "table", "tbody", "tfoot", "thead", "ul",
]);
const HEADING = /^h([1-6])$/;

export function parseHtml(html: string, limits: ParseLimits = DEFAULT_LIMITS): ParsedText {
  // Uploads are already within MAX_DOCUMENT_BYTES; this bounds the HTML a .docx turns into.
  if (html.length > limits.maxExpandedBytes) throw new LimitExceeded(`its HTML (${html.length} characters)`, limits, "maxExpandedBytes", "bytes");
  checkDepth(html, limits);
  const doc = parseDocument(html);
  const writer = new BlockWriter(limits);
  for (const root of contentRoots(doc.children)) writer.walk(root);
  writer.flush();
  return assemble(writer.blocks, pageTitle(doc.children));
}

/**
 * Refuses HTML nested deeper than the limit before a DOM is built. The walk below and domutils recurse
 * once per level, so a bounded depth is what keeps them off the end of the stack (and hasAncestor, which
 * is linear in depth, from going quadratic). htmlparser2's tokenizer keeps its own open-element stack, so
 * this pass has no recursion; the limit stops it at the first element too deep.
 */
function checkDepth(html: string, limits: ParseLimits): void {
  let depth = 0;
  const parser = new Parser({
    onopentag() {
      if (++depth > limits.maxHtmlDepth) throw new LimitExceeded("its HTML nesting depth", limits, "maxHtmlDepth", "levels");
    },
    onclosetag() {
      depth--;
    },
  });
  parser.write(html);
  parser.end();
}

function isDropped(el: DomElement): boolean {
  if (DROPPED.has(el.name)) return true;
  if ((el.name === "header" || el.name === "footer") && !hasAncestor(el, (a) => SECTIONING.has(a.name))) return true;
  const role = el.attribs.role?.trim().toLowerCase();
  if (role && DROPPED_ROLES.has(role)) return true;
  if ("hidden" in el.attribs || el.attribs["aria-hidden"] === "true") return true;
  return /display\s*:\s*none|visibility\s*:\s*hidden/i.test(el.attribs.style ?? "");
}

function hasAncestor(node: DomNode, test: (el: DomElement) => boolean): boolean {
  for (let p = node.parent; p; p = p.parent) if (isElement(p) && test(p)) return true;
  return false;
}

function isVisible(el: DomElement): boolean {
  return !isDropped(el) && !hasAncestor(el, isDropped);
}

/** <main> (or role=main) when present, else the outermost <article>s, else the whole page. */
function contentRoots(nodes: DomNode[]): DomNode[] {
  const outermost = (test: (el: DomElement) => boolean) =>
    DomUtils.findAll((el) => test(el) && isVisible(el) && !hasAncestor(el, test), nodes);
  const mains = outermost((el) => el.name === "main" || el.attribs.role?.toLowerCase() === "main");
  if (mains.length > 0) return mains;
  const articles = outermost((el) => el.name === "article");
  return articles.length > 0 ? articles : nodes;
}

function pageTitle(nodes: DomNode[]): string | undefined {
  const title = DomUtils.findOne((el) => el.name === "title" && !hasAncestor(el, (a) => a.name === "svg"), nodes);
  return title ? oneLine(DomUtils.textContent(title)) || undefined : undefined;
}

/** Visible text of an element on one line (headings). */
function innerText(node: DomNode): string {
  if (isText(node)) return node.data;
  if (!isElement(node) || isDropped(node)) return "";
  if (node.name === "br") return " ";
  return node.children.map(innerText).join("");
}

class BlockWriter {
  readonly blocks: Block[] = [];
  private buffer = "";
  /** The buffer holds a list item or table row: it joins a preceding item with a single line break. */
  private bufferIsItem = false;
  private lastWasItem = false;
  private pre = 0;
  private cell = 0;
  private readonly lists: { ordered: boolean; next: number }[] = [];
  private textChars = 0;

  constructor(private readonly limits: ParseLimits) {}

  walk(node: DomNode): void {
    if (isText(node)) {
      this.buffer += this.pre > 0 ? node.data : node.data.replace(/[ \t\n\r\f]+/g, " ");
      return;
    }
    if (!isElement(node)) {
      // The document root and CDATA have children; comments and directives have none.
      if ("children" in node) for (const child of node.children) this.walk(child);
      return;
    }
    const el = node;
    if (isDropped(el)) return;
    const heading = HEADING.exec(el.name);
    if (heading) {
      this.flush();
      this.push({ kind: "heading", level: Number(heading[1]), text: innerText(el) });
      this.lastWasItem = false;
      return;
    }
    switch (el.name) {
      case "br":
        this.buffer += "\n";
        return;
      case "pre":
        this.flush();
        this.pre++;
        this.children(el);
        this.flush();
        this.pre--;
        return;
      case "ul":
      case "ol":
        this.flush();
        this.lists.push({ ordered: el.name === "ol", next: Number(el.attribs.start) || 1 });
        this.children(el);
        this.flush();
        this.lists.pop();
        return;
      case "li": {
        this.flush();
        const list = this.lists[this.lists.length - 1];
        this.buffer = list?.ordered ? `${list.next++}. ` : "- ";
        this.bufferIsItem = true;
        this.children(el);
        this.flush();
        this.clear(); // an item with no text leaves its marker behind
        return;
      }
      case "tr":
        this.flush();
        this.bufferIsItem = true;
        this.children(el);
        this.flush();
        return;
      case "td":
      case "th":
        if (this.buffer.trim() !== "") this.buffer += " | ";
        this.cell++;
        this.children(el);
        this.cell--;
        return;
    }
    // Inside a table cell, block elements only separate words: a row stays one line.
    const block = BLOCKS.has(el.name) && this.cell === 0;
    if (block) this.flush();
    else if (BLOCKS.has(el.name)) this.buffer += " ";
    this.children(el);
    if (block) this.flush();
  }

  private children(el: DomElement): void {
    for (const child of el.children) this.walk(child);
  }

  flush(): void {
    const text = this.pre > 0 ? this.buffer : this.buffer.split("\n").map((l) => l.replace(/ {2,}/g, " ").trim()).join("\n");
    // A list marker waits for its item's text, which may come inside a nested <p>.
    if (this.bufferIsItem && /^(-|\d+\.)$/.test(text.trim())) return;
    if (text.trim() !== "") {
      this.push({ kind: "paragraph", text, tight: this.bufferIsItem && this.lastWasItem });
      this.lastWasItem = this.bufferIsItem;
    }
    this.clear();
  }

  private push(block: Block): void {
    this.textChars += block.text.length;
    if (this.textChars > this.limits.maxTextChars) throw new LimitExceeded("its text", this.limits, "maxTextChars", "characters");
    this.blocks.push(block);
  }

  private clear(): void {
    this.buffer = "";
    this.bufferIsItem = false;
  }
}
