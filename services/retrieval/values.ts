/**
 * How metadata strings are read by range filters (the contract: "read as a decimal number", "read as an
 * RFC 3339 timestamp"). Both backends store these parsed values beside the raw strings, so a filter
 * compares numbers, never text.
 */

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** The value as a finite number, or undefined when it is not a decimal number. */
export function metadataNumber(value: string): number | undefined {
  const v = value.trim();
  if (!DECIMAL.test(v)) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** The value as epoch milliseconds, or undefined when it is not an RFC 3339 timestamp. */
export function metadataTime(value: string): number | undefined {
  const v = value.trim();
  if (!RFC3339.test(v)) return undefined;
  const ms = Date.parse(v.replace(" ", "T"));
  return Number.isFinite(ms) ? ms : undefined;
}
