import { ScalarType, type DescMessage, type JsonValue, type Message } from "@bufbuild/protobuf";
import { invalidArgument } from "./errors.js";

/**
 * Resuming a server stream over SSE, for streams whose contract supports it: the response carries an int64
 * `sequence` and the request an int64 `after_sequence` (WatchJob). Each event's `id:` is its sequence, and a
 * client that reconnects (as EventSource does by itself) sends the last one back as `Last-Event-ID`, so it
 * continues where it stopped instead of starting over, whether the HTTP connection dropped or the gateway's
 * own upstream stream was ended by connection ageing.
 */

const RESUME_FIELD = "after_sequence";
const SEQUENCE_FIELD = "sequence";

function int64Field(message: DescMessage, name: string) {
  const field = message.fields.find((f) => f.name === name);
  return field?.fieldKind === "scalar" && (field.scalar === ScalarType.INT64 || field.scalar === ScalarType.UINT64) ? field : undefined;
}

/** The event id of a rendered message of `output`, when its contract numbers its messages. */
export function resumable(output: DescMessage): ((message: JsonValue) => string | undefined) | undefined {
  const field = int64Field(output, SEQUENCE_FIELD);
  if (!field) return undefined;
  return (message) => {
    const value = typeof message === "object" && message !== null && !Array.isArray(message) ? message[field.jsonName] : undefined;
    return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
  };
}

/** Sets `after_sequence` from a `Last-Event-ID` header, unless the request already names a resume point. */
export function resumeFrom(input: DescMessage, request: Message, lastEventId: string | string[] | undefined): void {
  const field = int64Field(input, RESUME_FIELD);
  if (!field || lastEventId === undefined) return;
  const value = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  if (value === undefined || value.trim() === "") return;
  if (!/^\d{1,19}$/.test(value.trim())) throw invalidArgument(`Last-Event-ID: expected the id of an event this stream sent (a non-negative integer), got ${JSON.stringify(value.slice(0, 40))}`, "Last-Event-ID");
  const record = request as unknown as Record<string, unknown>;
  if (record[field.localName] === 0n || record[field.localName] === undefined) record[field.localName] = BigInt(value.trim());
}
