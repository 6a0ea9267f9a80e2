import { parentPort } from "node:worker_threads";
import { InvalidArgumentError, RpcError } from "#mesh/errors.js";

/* The worker side of WorkerPool: the message protocol and how errors cross the thread boundary. */

export type ToWorker = { id: number; payload: unknown };
export type FromWorker =
  | { type: "ready" }
  | { type: "done"; id: number; value: unknown }
  | { type: "failed"; id: number; error: CarriedError };

/** Errors are cloned field by field across threads and lose their class: this keeps what a caller needs. */
export type CarriedError =
  | { kind: "invalid"; field: string; problem: string }
  | { kind: "rpc"; code: number; message: string; details: Record<string, unknown> }
  | { kind: "internal"; message: string; stack?: string };

export function carry(err: unknown): CarriedError {
  if (err instanceof InvalidArgumentError) return { kind: "invalid", field: err.field, problem: err.message.slice(err.field.length + 2) };
  if (err instanceof RpcError) return { kind: "rpc", code: err.code, message: err.message, details: err.details };
  const e = err instanceof Error ? err : new Error(String(err));
  return { kind: "internal", message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
}

export function revive(carried: CarriedError): Error {
  switch (carried.kind) {
    case "invalid":
      return new InvalidArgumentError(carried.field, carried.problem);
    case "rpc":
      return new RpcError(carried.code, carried.message, carried.details);
    case "internal": {
      const err = new Error(carried.message);
      if (carried.stack) err.stack = carried.stack;
      return err;
    }
  }
}

/**
 * Runs in a worker: answers each job with `handle`'s result (transferring the buffers it lists) or its
 * error. Jobs arrive one at a time (the pool sends a worker its next job only after the last answer).
 */
export function serveJobs(handle: (payload: unknown) => Promise<{ value: unknown; transfer?: ArrayBuffer[] }>): void {
  const port = parentPort;
  if (!port) throw new Error("serveJobs runs in a worker thread");
  port.on("message", (message: ToWorker) => {
    void handle(message.payload).then(
      ({ value, transfer }) => port.postMessage({ type: "done", id: message.id, value } satisfies FromWorker, transfer ?? []),
      (err: unknown) => port.postMessage({ type: "failed", id: message.id, error: carry(err) } satisfies FromWorker),
    );
  });
  port.postMessage({ type: "ready" } satisfies FromWorker);
}
