import { InvalidArgumentError } from "#mesh/errors.js";

export const LIMITS = {
  title: 1000,
  sourceUri: 2048,
  tags: 50,
  tagLength: 64,
  metadataEntries: 64,
  metadataKey: 64,
  metadataValue: 1024,
  /** Indexing errors can be long (stack traces); what is kept is cut, not refused. */
  statusMessage: 2000,
};

const COLLECTION = /^[a-z0-9_-]{1,64}$/;
// Ids are UUIDs today; anything else cannot name a document, so it is reported as not found.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function collectionName(value: string): string {
  if (value === "") return "default";
  if (!COLLECTION.test(value)) throw new InvalidArgumentError("collection", `${JSON.stringify(value)} is not a valid name: 1-64 characters of a-z, 0-9, "_" and "-"`);
  return value;
}

export function requiredId(field: string, value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError(field, "required");
  return value.trim();
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function title(value: string): string {
  const t = value.trim();
  if ([...value].length > LIMITS.title) throw new InvalidArgumentError("title", `longer than ${LIMITS.title} characters`);
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
  if ([...value].length > LIMITS.sourceUri) throw new InvalidArgumentError("source_uri", `longer than ${LIMITS.sourceUri} characters`);
  return v;
}

export function tags(values: string[]): string[] {
  // Bounds apply to the tags as sent (as the contract states them), before trimming and de-duplication.
  if (values.length > LIMITS.tags) throw new InvalidArgumentError("tags", `at most ${LIMITS.tags} tags, got ${values.length}`);
  for (const t of values) {
    if (t.trim().length === 0 || [...t].length > LIMITS.tagLength) throw new InvalidArgumentError("tags", `each tag must be 1-${LIMITS.tagLength} characters, got ${JSON.stringify(t)}`);
  }
  return [...new Set(values.map((t) => t.trim()))];
}

export function metadata(values: Record<string, string>): Record<string, string> {
  const entries = Object.entries(values);
  if (entries.length > LIMITS.metadataEntries) throw new InvalidArgumentError("metadata", `at most ${LIMITS.metadataEntries} entries, got ${entries.length}`);
  for (const [k, v] of entries) {
    if (k.length === 0 || [...k].length > LIMITS.metadataKey) throw new InvalidArgumentError("metadata", `keys must be 1-${LIMITS.metadataKey} characters, got ${JSON.stringify(k)}`);
    if ([...v].length > LIMITS.metadataValue) throw new InvalidArgumentError(`metadata.${k}`, `value longer than ${LIMITS.metadataValue} characters`);
  }
  return Object.fromEntries(entries);
}

export function filename(value: string): string {
  const v = value.trim();
  if ([...value].length > 255) throw new InvalidArgumentError("filename", "longer than 255 characters");
  return v;
}
