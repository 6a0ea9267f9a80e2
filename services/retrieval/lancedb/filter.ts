import type { Bounds, SearchFilter } from "../backend.js";

/**
 * Builds the SQL predicate LanceDB applies inside its vector and full-text scans (a pre-filter, so a
 * selective filter never starves the top-k). Every value is a quoted literal: strings are single-quoted
 * with quotes doubled, numbers are written by JSON.stringify (finite, validated), so no caller text is
 * ever parsed as SQL.
 */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function sqlNumber(value: number): string {
  // DataFusion reads plain decimals; exponent forms go through an explicit cast.
  const s = JSON.stringify(value);
  return /^-?\d+(\.\d+)?$/.test(s) ? s : `CAST(${sqlString(s)} AS DOUBLE)`;
}

function sqlList(values: string[]): string {
  return values.map(sqlString).join(", ");
}

/** The value stored under metadata key `key` in the aligned list `column`, NULL when the key is absent. */
function metaValue(column: string, key: string): string {
  return `array_element(${column}, CAST(array_position(meta_keys, ${sqlString(key)}) AS BIGINT))`;
}

function range(expr: string, b: Bounds): string[] {
  const out: string[] = [];
  if (b.gte !== undefined) out.push(`${expr} >= ${sqlNumber(b.gte)}`);
  if (b.gt !== undefined) out.push(`${expr} > ${sqlNumber(b.gt)}`);
  if (b.lte !== undefined) out.push(`${expr} <= ${sqlNumber(b.lte)}`);
  if (b.lt !== undefined) out.push(`${expr} < ${sqlNumber(b.lt)}`);
  // A range with no bounds still requires a value to be there ("missing or not a number do not match").
  if (out.length === 0) out.push(`${expr} IS NOT NULL`);
  return out;
}

/** The predicate, or undefined when the filter is empty. */
export function whereClause(f: SearchFilter): string | undefined {
  const parts: string[] = [];
  if (f.documentIds.length > 0) parts.push(`document_id IN (${sqlList(f.documentIds)})`);
  if (f.tags.length > 0) parts.push(`array_has_any(tags, [${sqlList(f.tags)}])`);
  for (const [key, value] of Object.entries(f.metadata)) parts.push(`${metaValue("meta_values", key)} = ${sqlString(value)}`);
  for (const r of f.numericRanges) parts.push(...range(metaValue("meta_numbers", r.key), r.bounds));
  for (const t of f.timeRanges) {
    const expr = t.field === undefined ? "document_time" : metaValue("meta_times", t.field);
    if (t.startMs === undefined && t.endMs === undefined && t.field === undefined) continue; // open on both ends
    parts.push(...range(expr, { gte: t.startMs, lt: t.endMs }));
  }
  return parts.length === 0 ? undefined : parts.map((p) => `(${p})`).join(" AND ");
}

/** Points of the given documents or with the given chunk ids. */
export function selectorClause(documentIds: string[], chunkIds: string[]): string {
  const parts: string[] = [];
  if (documentIds.length > 0) parts.push(`document_id IN (${sqlList(documentIds)})`);
  if (chunkIds.length > 0) parts.push(`chunk_id IN (${sqlList(chunkIds)})`);
  return parts.join(" OR ");
}
