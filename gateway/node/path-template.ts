/**
 * `google.api.http` path templates (google/api/http.proto grammar):
 *
 *   Template = "/" Segments [ Verb ] ;   Segments = Segment { "/" Segment } ;
 *   Segment  = "*" | "**" | LITERAL | Variable ;   Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *   FieldPath = IDENT { "." IDENT } ;   Verb = ":" LITERAL ;
 *
 * A compiled template matches a request path and yields its variables, URL-decoded.
 */

type Segment = { kind: "literal"; value: string } | { kind: "any" } | { kind: "deep" };

interface Variable {
  /** Field path, e.g. ["filter", "collection"] for `{filter.collection}`. */
  fieldPath: string[];
  /** First template segment the variable covers. */
  start: number;
  /** One past the last covered segment; for a variable ending in `**`, the segments to the end of the path. */
  end: number;
}

export interface PathTemplate {
  /** The template as written, e.g. "/v1/jobs/{job_id}:watch". */
  source: string;
  segments: Segment[];
  variables: Variable[];
  /** The custom verb after the last segment, e.g. "watch"; "" when there is none. */
  verb: string;
}

export class TemplateSyntaxError extends Error {
  constructor(template: string, problem: string) {
    super(`invalid path template ${JSON.stringify(template)}: ${problem}`);
    this.name = "TemplateSyntaxError";
  }
}

/** A path whose percent-encoding is broken; the gateway answers 400. */
export class PathDecodeError extends Error {
  constructor(segment: string) {
    super(`invalid percent-encoding in path segment ${JSON.stringify(segment)}`);
    this.name = "PathDecodeError";
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function compileTemplate(source: string): PathTemplate {
  const fail = (problem: string): never => {
    throw new TemplateSyntaxError(source, problem);
  };
  if (!source.startsWith("/")) fail("must start with '/'");
  const { body, verb } = splitVerb(source.slice(1));
  if (verb !== undefined && verb === "") fail("empty verb after ':'");

  const segments: Segment[] = [];
  const variables: Variable[] = [];
  for (const part of splitTopLevel(body, fail)) {
    if (part.startsWith("{")) {
      if (!part.endsWith("}")) fail(`unterminated variable ${JSON.stringify(part)}`);
      const inner = part.slice(1, -1);
      const eq = inner.indexOf("=");
      const path = eq < 0 ? inner : inner.slice(0, eq);
      const fieldPath = path.split(".");
      if (!fieldPath.every((p) => IDENT.test(p))) fail(`invalid field path ${JSON.stringify(path)}`);
      if (variables.some((v) => v.fieldPath.join(".") === path)) fail(`variable ${JSON.stringify(path)} appears twice`);
      const sub = eq < 0 ? ["*"] : inner.slice(eq + 1).split("/");
      const start = segments.length;
      for (const s of sub) {
        if (s.includes("{") || s.includes("}")) fail("nested variables are not allowed");
        segments.push(toSegment(s, fail));
      }
      variables.push({ fieldPath, start, end: segments.length });
    } else {
      segments.push(toSegment(part, fail));
    }
  }
  const deepAt = segments.findIndex((s) => s.kind === "deep");
  if (deepAt >= 0 && deepAt !== segments.length - 1) fail("'**' must be the last segment");
  return { source, segments, variables, verb: verb ?? "" };
}

function toSegment(text: string, fail: (problem: string) => never): Segment {
  if (text === "*") return { kind: "any" };
  if (text === "**") return { kind: "deep" };
  if (text === "") fail("empty segment");
  if (/[*{}=]/.test(text)) fail(`invalid literal segment ${JSON.stringify(text)}`);
  return { kind: "literal", value: text };
}

/** Splits on '/' outside braces; a '/' inside `{a=b/*}` belongs to the variable. */
function splitTopLevel(body: string, fail: (problem: string) => never): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of body) {
    if (ch === "{") depth++;
    if (ch === "}") depth--;
    if (depth < 0 || depth > 1) fail("unbalanced braces");
    if (ch === "/" && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  if (depth !== 0) fail("unbalanced braces");
  parts.push(current);
  return parts;
}

/** Separates a trailing ":verb" (a ':' after the last top-level '/', outside braces). */
function splitVerb(text: string): { body: string; verb: string | undefined } {
  let depth = 0;
  let colon = -1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "{") depth++;
    else if (ch === "}") depth--;
    else if (ch === "/" && depth === 0) colon = -1;
    else if (ch === ":" && depth === 0) colon = i;
  }
  return colon < 0 ? { body: text, verb: undefined } : { body: text.slice(0, colon), verb: text.slice(colon + 1) };
}

export interface TemplateMatch {
  /** Variable values keyed by dotted field path ("filter.collection"), URL-decoded. */
  variables: Map<string, string>;
}

/**
 * Matches a request path (no query string, still percent-encoded). A template with a verb only matches a
 * path ending in ":verb"; one without a verb matches the whole path, so `/v1/jobs/j1:watch` also fits
 * `/v1/jobs/{job_id}` with job_id "j1:watch" — `compareSpecificity` makes the verb route win.
 */
export function matchTemplate(template: PathTemplate, path: string): TemplateMatch | undefined {
  if (!path.startsWith("/")) return undefined;
  let rest = path.slice(1);
  if (template.verb) {
    const suffix = `:${template.verb}`;
    if (!rest.endsWith(suffix)) return undefined;
    rest = rest.slice(0, -suffix.length);
  }
  const parts = rest.split("/");
  const { segments } = template;
  const deep = segments.length > 0 && segments[segments.length - 1].kind === "deep";
  if (deep ? parts.length < segments.length - 1 : parts.length !== segments.length) return undefined;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg.kind === "deep") break;
    const part = parts[i];
    if (part === "") return undefined;
    if (seg.kind === "literal" && decodeSegment(part) !== seg.value) return undefined;
  }
  const variables = new Map<string, string>();
  for (const v of template.variables) {
    const end = deep && v.end === segments.length ? parts.length : v.end;
    const covered = parts.slice(v.start, end);
    // A single-segment variable takes the whole decoded value (so %2F becomes '/'); a multi-segment one keeps
    // its separators, per the http.proto rules for reserved expansion.
    const value = end - v.start === 1 ? decodeSegment(covered[0]) : covered.map(decodeSegment).join("/");
    variables.set(v.fieldPath.join("."), value);
  }
  return { variables };
}

function decodeSegment(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new PathDecodeError(segment);
  }
}

/**
 * Orders two templates that both matched one path: negative when `a` is the better fit. A template with a
 * verb beats one without; then, segment by segment, a literal beats a variable or `*`, which beats `**`.
 */
export function compareSpecificity(a: PathTemplate, b: PathTemplate): number {
  if (Boolean(a.verb) !== Boolean(b.verb)) return a.verb ? -1 : 1;
  const rank = (s: Segment | undefined) => (s === undefined ? 0 : s.kind === "literal" ? 3 : s.kind === "any" ? 2 : 1);
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const diff = rank(b.segments[i]) - rank(a.segments[i]);
    if (diff !== 0) return diff;
  }
  return 0;
}
