import { InvalidArgumentError } from "#mesh/errors.js";
import { DOCUMENT_LABEL_LIMITS, documentMetadata, documentTags, notLongerThan } from "#mesh/rules.js";

// Collection names and ids follow the rules every service shares. Ids are UUIDs today; anything else cannot
// name a document, so it is reported as not found.
export { collectionName, isUuid, requiredId } from "#mesh/rules.js";

export const LIMITS = {
  title: 1000,
  sourceUri: 2048,
  ...DOCUMENT_LABEL_LIMITS,
  /** Indexing errors can be long (stack traces); what is kept is cut, not refused. */
  statusMessage: 2000,
};

export function title(value: string): string {
  const t = value.trim();
  notLongerThan("title", value, LIMITS.title);
  return t;
}

/** A title taken from the content (a heading, <title>, PDF info) is cut to the limit rather than refused. */
export function derivedTitle(value: string | undefined): string {
  return truncate((value ?? "").trim(), LIMITS.title);
}

/** An int64 version in a request: "0" (or unset) means "no check". */
export function optionalVersion(field: string, value: string): string | undefined {
  if (value === "" || value === "0") return undefined;
  if (!/^[1-9]\d{0,18}$/.test(value)) throw new InvalidArgumentError(field, `must be a document version (a positive number), got ${value}`);
  return value;
}

export function statusMessage(value: string): string {
  return truncate(value.trim(), LIMITS.statusMessage);
}

function truncate(value: string, max: number): string {
  const points = [...value];
  return points.length <= max ? value : `${points.slice(0, max - 1).join("").trimEnd()}…`;
}

export function sourceUri(value: string): string {
  const v = value.trim();
  notLongerThan("source_uri", value, LIMITS.sourceUri);
  return v;
}

/** Tags and metadata as every service that takes a document's labels holds them (#mesh/rules.ts). */
export function tags(values: string[]): string[] {
  return documentTags(values);
}

export function metadata(values: Record<string, string>): Record<string, string> {
  return documentMetadata("metadata", values);
}

export function filename(value: string): string {
  const v = value.trim();
  notLongerThan("filename", value, 255);
  return v;
}
