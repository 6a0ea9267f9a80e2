import { status, type ServiceError } from "@grpc/grpc-js";
import { errorDetails, isServiceError } from "#mesh/errors.js";

export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** A table with left-aligned columns sized to their content. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  print(line(header));
  for (const r of rows) print(line(r));
}

export class UsageError extends Error {}

/** One line a person can act on, from whatever went wrong; returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`rag: ${err.message}\nrun "rag help" for usage\n`);
    return 2;
  }
  if (isServiceError(err)) {
    const se = err as ServiceError;
    if (se.code === status.UNAVAILABLE) {
      process.stderr.write(`rag: cannot reach the service (${se.details}).\nIs the stack running? Start it with "make run", or point RAG_ENDPOINTS at it.\n`);
      return 3;
    }
    const field = errorDetails(se).field;
    process.stderr.write(`rag: ${status[se.code]}: ${se.details}${field ? ` [field ${String(field)}]` : ""}\n`);
    return 1;
  }
  process.stderr.write(`rag: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}
