import { Field, FixedSizeList, Float32, Float64, Int32, List, Schema, Utf8 } from "apache-arrow";
import type { IndexPoint } from "../backend.js";
import { metadataNumber, metadataTime } from "../values.js";

/**
 * One LanceDB row per point. Metadata is kept as four aligned lists (key, raw value, value read as a
 * number, value read as a time) so that SQL filters can pick a key's value by position without a column
 * per key: `array_element(meta_values, array_position(meta_keys, 'team'))`.
 */
const strings = () => new List(new Field("item", new Utf8(), true));
const doubles = () => new List(new Field("item", new Float64(), true));

export function pointSchema(dimensions: number): Schema {
  return new Schema([
    new Field("chunk_id", new Utf8(), false),
    new Field("document_id", new Utf8(), false),
    new Field("text", new Utf8(), false),
    new Field("title", new Utf8(), false),
    new Field("source_uri", new Utf8(), false),
    new Field("heading_path", strings(), false),
    new Field("chunk_index", new Int32(), false),
    new Field("tags", strings(), false),
    new Field("meta_keys", strings(), false),
    new Field("meta_values", strings(), false),
    new Field("meta_numbers", doubles(), false),
    new Field("meta_times", doubles(), false),
    new Field("document_time", new Float64(), true),
    new Field("vector", new FixedSizeList(dimensions, new Field("item", new Float32(), true)), false),
  ]);
}

/** Columns a search returns (the vector only on request). */
export const POINT_COLUMNS = ["chunk_id", "document_id", "text", "title", "source_uri", "heading_path", "chunk_index", "tags", "meta_keys", "meta_values", "document_time"];

export function toRow(p: IndexPoint): Record<string, unknown> {
  const keys = Object.keys(p.metadata).sort();
  const values = keys.map((k) => p.metadata[k]!);
  return {
    chunk_id: p.chunkId,
    document_id: p.documentId,
    text: p.text,
    title: p.title,
    source_uri: p.sourceUri,
    heading_path: p.headingPath,
    chunk_index: p.chunkIndex,
    tags: p.tags,
    meta_keys: keys,
    meta_values: values,
    meta_numbers: values.map((v) => metadataNumber(v) ?? null),
    meta_times: values.map((v) => metadataTime(v) ?? null),
    document_time: p.documentTimeMs ?? null,
    vector: p.vector,
  };
}

/** Arrow list values arrive as Vectors (or arrays); both iterate. */
function list<T>(value: unknown): T[] {
  if (value === null || value === undefined) return [];
  return Array.from(value as Iterable<T>);
}

export function fromRow(row: Record<string, unknown>): IndexPoint {
  const keys = list<string>(row.meta_keys);
  const values = list<string>(row.meta_values);
  const time = row.document_time;
  return {
    chunkId: String(row.chunk_id),
    documentId: String(row.document_id),
    text: String(row.text),
    title: String(row.title ?? ""),
    sourceUri: String(row.source_uri ?? ""),
    headingPath: list<string>(row.heading_path),
    chunkIndex: Number(row.chunk_index ?? 0),
    tags: list<string>(row.tags),
    metadata: Object.fromEntries(keys.map((k, i) => [k, values[i] ?? ""])),
    documentTimeMs: typeof time === "number" ? time : undefined,
    vector: list<number>(row.vector),
  };
}
