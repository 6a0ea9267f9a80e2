/**
 * The rules for labels (ids, tags, metadata keys) and for search filters, shared by every service that
 * accepts them: retrieval stores and searches by them, query takes a filter in Ask and SubmitAsk and must
 * refuse a bad one when the ask is submitted, not when it later runs. One module, so the two cannot drift
 * (and both match the bounds retrieval.proto declares on Filter and Point).
 */
import { InvalidArgumentError } from "./errors.js";
import { notLongerThan } from "./rules.js";

export const LABEL_LIMITS = {
  idLength: 256,
  tagLength: 256,
  metadataEntries: 64,
  metadataKeyLength: 128,
  metadataValueLength: 2048,
  filterValues: 1000,
  ranges: 16,
};

// Control characters have no business in ids, tags or keys, and keeping them out keeps every engine's
// query language (SQL literals, JSON paths) simple to quote.
const CONTROL = /[\u0000-\u001f\u007f]/;

export function label(field: string, value: string, max: number, required: boolean): string {
  if (value.trim() === "") {
    if (required) throw new InvalidArgumentError(field, "required");
    return "";
  }
  notLongerThan(field, value, max);
  if (CONTROL.test(value)) throw new InvalidArgumentError(field, "must not contain control characters");
  return value;
}

export function labels(field: string, values: string[], maxCount: number, maxLength: number): string[] {
  if (values.length > maxCount) throw new InvalidArgumentError(field, `at most ${maxCount} entries, got ${values.length}`);
  values.forEach((v, i) => label(`${field}[${i}]`, v, maxLength, true));
  return [...new Set(values)];
}

export function metadata(field: string, values: Record<string, string>): Record<string, string> {
  const entries = Object.entries(values);
  if (entries.length > LABEL_LIMITS.metadataEntries) throw new InvalidArgumentError(field, `at most ${LABEL_LIMITS.metadataEntries} entries, got ${entries.length}`);
  for (const [k, v] of entries) {
    label(`${field} key`, k, LABEL_LIMITS.metadataKeyLength, true);
    if ([...v].length > LABEL_LIMITS.metadataValueLength) throw new InvalidArgumentError(`${field}.${k}`, `value longer than ${LABEL_LIMITS.metadataValueLength} characters`);
  }
  return Object.fromEntries(entries);
}

function bound(field: string, v: number | undefined): number | undefined {
  if (v !== undefined && !Number.isFinite(v)) throw new InvalidArgumentError(field, "must be a finite number");
  return v;
}

/** A search filter as the contract's rag.v1.Filter carries it (structurally; the mesh does not import gen/). */
export interface FilterInput {
  documentIds: string[];
  tags: string[];
  metadata: Record<string, string>;
  numericRanges: { key: string; gte?: number | undefined; gt?: number | undefined; lte?: number | undefined; lt?: number | undefined }[];
  timeRanges: { field: string; startTime?: Date | undefined; endTime?: Date | undefined }[];
}

export interface CheckedFilter {
  documentIds: string[];
  tags: string[];
  metadata: Record<string, string>;
  numericRanges: { key: string; bounds: { gte?: number; gt?: number; lte?: number; lt?: number } }[];
  /** `field` undefined means the point's document_time; otherwise a metadata key read as RFC 3339. */
  timeRanges: { field: string | undefined; startMs?: number; endMs?: number }[];
}

/** Checks a filter, naming the offending field under `filter.`; returns it normalised (labels deduplicated). */
export function checkFilter(filter: FilterInput | undefined): CheckedFilter {
  const f = filter ?? { documentIds: [], tags: [], metadata: {}, numericRanges: [], timeRanges: [] };
  if (f.numericRanges.length > LABEL_LIMITS.ranges) throw new InvalidArgumentError("filter.numeric_ranges", `at most ${LABEL_LIMITS.ranges} ranges`);
  if (f.timeRanges.length > LABEL_LIMITS.ranges) throw new InvalidArgumentError("filter.time_ranges", `at most ${LABEL_LIMITS.ranges} ranges`);
  return {
    documentIds: labels("filter.document_ids", f.documentIds, LABEL_LIMITS.filterValues, LABEL_LIMITS.idLength),
    tags: labels("filter.tags", f.tags, LABEL_LIMITS.filterValues, LABEL_LIMITS.tagLength),
    metadata: metadata("filter.metadata", f.metadata),
    numericRanges: f.numericRanges.map((r, i) => {
      const field = `filter.numeric_ranges[${i}]`;
      const bounds = {
        gte: bound(`${field}.gte`, r.gte),
        gt: bound(`${field}.gt`, r.gt),
        lte: bound(`${field}.lte`, r.lte),
        lt: bound(`${field}.lt`, r.lt),
      };
      return { key: label(`${field}.key`, r.key, LABEL_LIMITS.metadataKeyLength, true), bounds };
    }),
    timeRanges: f.timeRanges.map((r, i) => {
      const field = `filter.time_ranges[${i}]`;
      const startMs = r.startTime?.getTime();
      const endMs = r.endTime?.getTime();
      if (startMs !== undefined && endMs !== undefined && endMs <= startMs) throw new InvalidArgumentError(`${field}.end_time`, "must be after start_time");
      const name = label(`${field}.field`, r.field, LABEL_LIMITS.metadataKeyLength, false);
      return { field: name === "" || name === "document_time" ? undefined : name, startMs, endMs };
    }),
  };
}
