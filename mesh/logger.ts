import winston from "winston";
import { context, trace } from "@opentelemetry/api";
import { currentCall } from "./context.js";

/**
 * One JSON line per event. Trace and span ids come from the active OpenTelemetry span, the tenant from the
 * call being served, so a log line can be joined to its trace in Jaeger without the caller passing ids.
 */
const correlation = winston.format((info) => {
  const span = trace.getSpan(context.active());
  if (span) {
    const { traceId, spanId, traceFlags } = span.spanContext();
    if (traceId !== "00000000000000000000000000000000") {
      info.trace_id = traceId;
      info.span_id = spanId;
      info.trace_flags = `0${traceFlags.toString(16)}`;
    }
  }
  const call = currentCall();
  if (call) {
    info.tenant ??= call.tenantId;
    info.request_id ??= call.requestId;
  }
  return info;
});

export const log = winston.createLogger({
  level: process.env.LOG_LEVEL ?? "info",
  defaultMeta: { service: process.env.OTEL_SERVICE_NAME ?? "rag" },
  format: winston.format.combine(winston.format.timestamp(), correlation(), winston.format.json()),
  transports: [new winston.transports.Console()],
});

export type Logger = winston.Logger;

export function configureLogger(service: string, level: string): void {
  log.defaultMeta = { service };
  log.level = level;
}

/** Error fields worth a log line, without the caller-facing message rewrite. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? { cause: err.cause.message } : {};
    return { error: err.message, error_name: err.name, stack: err.stack, ...cause };
  }
  return { error: String(err) };
}
