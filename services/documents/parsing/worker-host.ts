import { InvalidArgumentError, RpcError } from "#mesh/errors.js";

/* The worker side of WorkerPool: the message protocol and how errors cross the process boundary. */

export type ToWorker = { id: number; payload: unknown };
export type FromWorker =
  | { type: "ready" }
  | { type: "done"; id: number; value: unknown }
  | { type: "failed"; id: number; error: CarriedError };

/** Errors are cloned field by field across processes and lose their class: this keeps what a caller needs. */
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
 * Runs in a worker process: answers each job with `handle`'s result or its error. Jobs arrive one at a
 * time (the pool sends a worker its next job only after the last answer).
 */
export function serveJobs(handle: (payload: unknown) => Promise<unknown>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error("serveJobs runs in a worker process started by WorkerPool");
  process.on("message", (message: ToWorker) => {
    void handle(message.payload).then(
      (value) => send({ type: "done", id: message.id, value } satisfies FromWorker),
      (err: unknown) => send({ type: "failed", id: message.id, error: carry(err) } satisfies FromWorker),
    );
  });
  // The service went away (even by SIGKILL): so does its worker.
  process.on("disconnect", () => process.exit(0));
  send({ type: "ready" } satisfies FromWorker);
}
