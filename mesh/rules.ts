/**
 * Field rules that several services hold requests to, each written once so the services cannot drift apart
 * (a collection name one service accepts and the next refuses would strand data). Messages and field names
 * are part of the contract: tests and clients read them. Covered: text lengths, collection names, ids, a
 * document's tags and metadata, the ask's top_k bound. Labels of indexed points and search filters are in
 * ./labels.ts, page sizes and tokens in ./pagination.ts.
 */
import { InvalidArgumentError } from "./errors.js";

/** A text field bounded in characters (code points, as the protos count them), checked on the value as sent. */
export function notLongerThan(field: string, value: string, max: number): string {
  if ([...value].length > max) throw new InvalidArgumentError(field, `longer than ${max} characters`);
  return value;
}

/** What an empty collection in a request means (documents, ingestion, retrieval, query). */
export const DEFAULT_COLLECTION = "default";
const COLLECTION_NAME = /^[a-z0-9_-]{1,64}$/;

/** Throws unless `value` is a collection name; the message quotes `sent`, what the caller sent (before defaults). */
export function checkCollectionName(field: string, value: string, sent: string = value): string {
  if (!COLLECTION_NAME.test(value)) throw new InvalidArgumentError(field, `${JSON.stringify(sent)} is not a valid name: 1-64 characters of a-z, 0-9, "_" and "-"`);
  return value;
}

/** The `collection` of a request: empty means the default collection. */
export function collectionName(value: string): string {
  return value === "" ? DEFAULT_COLLECTION : checkCollectionName("collection", value);
}

// Ids the services mint are UUIDs. An id that is not one cannot name anything, so callers report it as not
// found (ids are opaque to clients), not as malformed.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** An id field that must be given; surrounding spaces are dropped. */
export function requiredId(field: string, value: string): string {
  const v = value.trim();
  if (v === "") throw new InvalidArgumentError(field, "required");
  return v;
}

/** Bounds on the tags and metadata a document carries, as documents.proto and ingestion.proto state them. */
export const DOCUMENT_LABEL_LIMITS = { tags: 50, tagLength: 64, metadataEntries: 64, metadataKey: 64, metadataValue: 1024 };

/** A document's tags, trimmed and de-duplicated. */
export function documentTags(values: string[]): string[] {
  const { tags, tagLength } = DOCUMENT_LABEL_LIMITS;
  // Bounds apply to the tags as sent (as the contract states them), before trimming and de-duplication.
  if (values.length > tags) throw new InvalidArgumentError("tags", `at most ${tags} tags, got ${values.length}`);
  for (const t of values) {
    if (t.trim().length === 0 || [...t].length > tagLength) throw new InvalidArgumentError("tags", `each tag must be 1-${tagLength} characters, got ${JSON.stringify(t)}`);
  }
  return [...new Set(values.map((t) => t.trim()))];
}

/** A document's metadata map, named `field` in errors. */
export function documentMetadata(field: string, values: Record<string, string>): Record<string, string> {
  const { metadataEntries, metadataKey, metadataValue } = DOCUMENT_LABEL_LIMITS;
  const entries = Object.entries(values);
  if (entries.length > metadataEntries) throw new InvalidArgumentError(field, `at most ${metadataEntries} entries, got ${entries.length}`);
  for (const [k, v] of entries) {
    if (k.length === 0 || [...k].length > metadataKey) throw new InvalidArgumentError(field, `keys must be 1-${metadataKey} characters, got ${JSON.stringify(k)}`);
    if ([...v].length > metadataValue) throw new InvalidArgumentError(`${field}.${k}`, `value longer than ${metadataValue} characters`);
  }
  return Object.fromEntries(entries);
}

/** The most passages one ask may retrieve (query's top_k, identity's default_top_k preference). */
export const MAX_ASK_TOP_K = 50;
