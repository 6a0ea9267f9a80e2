/**
 * Same text, same hash: Unicode NFC, LF line ends, no BOM, no control characters, no trailing spaces on
 * lines, at most one blank line in a row. Re-ingesting a file saved on another OS or editor then counts
 * as unchanged, and the chunker can treat "\n\n" as the one paragraph separator.
 */
export function normaliseText(raw: string): string {
  return raw
    .replace(/^\uFEFF/, "")
    .normalize("NFC")
    .replace(/\r\n?|[\u2028\u2029\v\f]/g, "\n")
    // C0 controls other than tab and LF, and DEL: noise from extractors, and Postgres rejects NUL.
    .replace(/[\u0000-\u0008\u000E-\u001F\u007F]/g, "")
    .replace(/[ \t]+$/gm, "")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** Whitespace runs to one space: for headings and other one-line values. */
export function oneLine(raw: string): string {
  return raw.replace(/\s+/g, " ").trim();
}
