import { once } from "node:events";
import {
  status,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { authorizeCall } from "./auth/index.js";
import { requiredPermission } from "./auth/permissions.js";
import { requestIdOf, runInCall, type CallContext } from "./context.js";
import { CancelledError, DeadlineExceededError, UnimplementedError, toServiceError } from "./errors.js";
import { errorFields, log } from "./logger.js";
import { methodLabels, serverHandled, serverHandling, serverInFlight, serverStarted } from "./metrics.js";
import { checkRequestText, strictTextDeserializer, type RequestSchemas } from "./text-rule.js";

/* Typed handlers in the style of nice-grpc: a unary method is `async (request, ctx) => response`, a
 * server-streaming one is an async generator. Types come straight from the ts-proto service definition. */

type AnyMethod = MethodDefinition<any, any>;
export type AnyServiceDefinition = { readonly [method: string]: AnyMethod };
export type RequestOf<M> = M extends { requestDeserialize: (b: Buffer) => infer R } ? R : never;
export type ResponseOf<M> = M extends { responseDeserialize: (b: Buffer) => infer R } ? R : never;

export type MethodImpl<M> = M extends { requestStream: false; responseStream: true }
  ? (request: RequestOf<M>, ctx: CallContext) => AsyncIterable<ResponseOf<M>>
  : M extends { requestStream: false; responseStream: false }
    ? (request: RequestOf<M>, ctx: CallContext) => Promise<ResponseOf<M>>
    : never;

/** A service's implementation: every method of the contract, each a plain async function. */
export type ServiceImpl<D> = { [K in keyof D]: MethodImpl<D[K]> };

export interface ServiceBinding {
  readonly definition: AnyServiceDefinition;
  readonly handlers: UntypedServiceImplementation;
  /** e.g. "rag.v1.DocumentsService": the health key and the reflection name. */
  readonly name: string;
}

export interface CallTracker {
  /** Called as a call starts and ends; the server uses it to know when draining is done. */
  enter(): void;
  leave(): void;
  defaultDeadlineMs: number;
}

/** Methods a service does not implement yet answer UNIMPLEMENTED, an honest status, never a made-up result. */
export function notImplemented<D extends AnyServiceDefinition, K extends keyof D & string>(definition: D, ...methods: K[]): Pick<ServiceImpl<D>, K> {
  const out: Record<string, unknown> = {};
  for (const key of methods) {
    const path = definition[key]!.path.slice(1);
    out[key] = definition[key]!.responseStream
      ? async function* () {
          throw new UnimplementedError(path);
        }
      : async () => {
          throw new UnimplementedError(path);
        };
  }
  return out as Pick<ServiceImpl<D>, K>;
}

/** Every method UNIMPLEMENTED: a service whose contract exists before its implementation. */
export function allNotImplemented<D extends AnyServiceDefinition>(definition: D): ServiceImpl<D> {
  return notImplemented(definition, ...(Object.keys(definition) as (keyof D & string)[])) as unknown as ServiceImpl<D>;
}

export function bindService<D extends AnyServiceDefinition>(
  definition: D,
  impl: ServiceImpl<D>,
  tracker: () => CallTracker,
  schemas: RequestSchemas,
): ServiceBinding {
  const handlers: UntypedServiceImplementation = {};
  const served: Record<string, AnyMethod> = {};
  let name = "";
  for (const [key, method] of Object.entries(definition)) {
    const fn = (impl as Record<string, unknown>)[key];
    if (typeof fn !== "function") throw new Error(`implementation of ${method.path} is missing`);
    if (method.requestStream) throw new Error(`${method.path}: client streaming is not supported by the mesh`);
    requiredPermission(method.path); // fail at start-up, not at the first call, for a method nobody classified
    const request = schemas.requestOf(method.path);
    name = methodLabels(method.path).grpc_service;
    served[key] = { ...method, requestDeserialize: strictTextDeserializer(method.requestDeserialize) };
    const checked: Checked = { method, check: (r) => checkRequestText(request, r) };
    handlers[key] = method.responseStream
      ? streamingHandler(checked, fn as (r: unknown, c: CallContext) => AsyncIterable<unknown>, tracker)
      : unaryHandler(checked, fn as (r: unknown, c: CallContext) => Promise<unknown>, tracker);
  }
  return { definition: served, handlers, name };
}

/** A method with the request checks every call of it passes before its handler runs. */
interface Checked {
  method: AnyMethod;
  check(request: unknown): void;
}

interface CallScope {
  /** Replaced once the caller is authenticated (tenant, caller and principal come from the token). */
  ctx: CallContext;
  /** Resolves once the deadline passes or the caller cancels. */
  finish: (code: status, err?: unknown) => void;
}

function openCall(method: AnyMethod, call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>, tracker: CallTracker, type: string): CallScope {
  const labels = methodLabels(method.path);
  const started = process.hrtime.bigint();
  const abort = new AbortController();
  const now = Date.now();
  const requested = call.getDeadline();
  const requestedMs = requested instanceof Date ? requested.getTime() : requested;
  // Every call gets a deadline: the caller's, or the service default when the caller gave none.
  const deadline = Number.isFinite(requestedMs) ? Math.min(requestedMs, now + 24 * 3600_000) : now + tracker.defaultDeadlineMs;
  const timer = setTimeout(() => abort.abort(new DeadlineExceededError(`deadline of ${deadline - now} ms exceeded`)), Math.max(0, deadline - now));
  // "cancelled" also fires when grpc-js itself ends the call at the client's deadline.
  call.once("cancelled", () => abort.abort(Date.now() >= deadline ? new DeadlineExceededError("deadline exceeded") : new CancelledError("call cancelled")));
  const ctx: CallContext = {
    service: labels.grpc_service,
    method: labels.grpc_method,
    metadata: call.metadata,
    deadline,
    signal: abort.signal,
    principal: undefined,
    tenantId: undefined,
    callerId: undefined,
    requestId: requestIdOf(call.metadata),
  };
  tracker.enter();
  serverStarted.inc({ ...labels, grpc_type: type });
  serverInFlight.inc({ grpc_service: labels.grpc_service });
  let done = false;
  return {
    ctx,
    finish(this: CallScope, code, err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      tracker.leave();
      serverInFlight.dec({ grpc_service: labels.grpc_service });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const codeName = status[code] ?? String(code);
      serverHandled.inc({ ...labels, grpc_type: type, grpc_code: codeName });
      serverHandling.observe({ ...labels, grpc_type: type, grpc_code: codeName }, seconds);
      const { ctx } = this;
      const fields = { rpc: method.path, code: codeName, duration_ms: Math.round(seconds * 1e4) / 10, tenant: ctx.tenantId, caller: ctx.callerId, request_id: ctx.requestId };
      runInCall(ctx, () => {
        if (code === status.OK) log.info("rpc", fields);
        else if (isServerFault(code)) log.error("rpc failed", { ...fields, ...errorFields(err) });
        else log.warn("rpc rejected", { ...fields, error: err instanceof Error ? err.message : String(err) });
      });
    },
  };
}

/** Codes that mean this service (or one behind it) failed, as opposed to the caller asking for something wrong. */
function isServerFault(code: status): boolean {
  return code === status.INTERNAL || code === status.UNKNOWN || code === status.DATA_LOSS || code === status.UNAVAILABLE;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DeadlineExceededError("deadline exceeded");
}

/**
 * Sends the final status of a call, whatever happens while doing so: the call path must never throw out
 * of a handler's promise chain, where nothing would catch it and the process would die with it.
 */
function settle(method: AnyMethod, send: () => void, fallback: () => void): void {
  try {
    send();
  } catch (err) {
    log.error("could not send a call's result; answering INTERNAL", { rpc: method.path, ...errorFields(err) });
    try {
      fallback();
    } catch (again) {
      log.error("could not answer the call at all", { rpc: method.path, ...errorFields(again) });
    }
  }
}

const INTERNAL_FALLBACK = { code: status.INTERNAL, details: "internal error: the result could not be sent" };

function unaryHandler({ method, check }: Checked, fn: (r: unknown, c: CallContext) => Promise<unknown>, tracker: () => CallTracker): UntypedHandleCall {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const scope = openCall(method, call, tracker(), "unary");
    const { ctx } = scope;
    let answered = false;
    const answer = (err: unknown, response?: unknown) => {
      if (answered) return;
      answered = true;
      settle(
        method,
        () => {
          if (err === null) {
            scope.finish(status.OK);
            callback(null, response);
          } else {
            const se = toServiceError(err);
            scope.finish(se.code, err);
            callback(se);
          }
        },
        () => {
          scope.finish(status.INTERNAL, err);
          callback(INTERNAL_FALLBACK);
        },
      );
    };
    // The deadline answers the caller even if the handler ignores the signal and keeps going.
    ctx.signal.addEventListener("abort", () => answer(abortReason(ctx.signal)), { once: true });
    authenticated(method, scope)
      .then((authed) => {
        check(call.request);
        return runInCall(authed, () => fn(call.request, authed));
      })
      .then(
        (response) => answer(null, response),
        (err) => answer(err),
      );
  };
}

function streamingHandler({ method, check }: Checked, fn: (r: unknown, c: CallContext) => AsyncIterable<unknown>, tracker: () => CallTracker): UntypedHandleCall {
  return (call: ServerWritableStream<unknown, unknown>) => {
    const scope = openCall(method, call, tracker(), "server_stream");
    const { ctx } = scope;
    let ended = false;
    const fail = (err: unknown) => {
      if (ended) return;
      ended = true;
      settle(
        method,
        () => {
          const se = toServiceError(err);
          scope.finish(se.code, err);
          call.emit("error", se);
        },
        () => {
          scope.finish(status.INTERNAL, err);
          call.emit("error", INTERNAL_FALLBACK);
        },
      );
    };
    ctx.signal.addEventListener("abort", () => fail(abortReason(ctx.signal)), { once: true });
    authenticated(method, scope).then((authed) => runInCall(authed, async () => {
      check(call.request);
      for await (const message of fn(call.request, authed)) {
        if (ended) return;
        // Respect HTTP/2 flow control: a slow reader must not make us buffer the whole stream.
        if (!call.write(message)) await once(call, "drain", { signal: ctx.signal });
      }
      if (ended) return;
      ended = true;
      settle(
        method,
        () => {
          scope.finish(status.OK);
          call.end();
        },
        () => call.emit("error", INTERNAL_FALLBACK),
      );
    })).catch(fail);
  };
}

/** Verifies the caller's token and the method's permission; the context then carries who is calling. */
async function authenticated(method: AnyMethod, scope: CallScope): Promise<CallContext> {
  const authorization = scope.ctx.metadata.get("authorization")[0];
  const principal = await authorizeCall(method.path, typeof authorization === "string" ? authorization : undefined);
  if (principal) scope.ctx = { ...scope.ctx, principal, tenantId: principal.tenantId || undefined, callerId: principal.userId };
  return scope.ctx;
}
