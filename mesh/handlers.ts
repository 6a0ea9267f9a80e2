import { once } from "node:events";
import type { MethodDefinition, ServerUnaryCall, ServerWritableStream, sendUnaryData, UntypedHandleCall, UntypedServiceImplementation } from "@grpc/grpc-js";
import { requiredPermission } from "./auth/permissions.js";
import type { TokenVerifier } from "./auth/verifier.js";
import type { LoadShedder } from "./resilience/shedding.js";
import { requestIdOf, type CallContext } from "./context.js";
import { UnimplementedError } from "./errors.js";
import { compose, serverMiddlewares, type CallTracker, type ServerCall } from "./interceptors/server.js";
import { methodLabels } from "./metrics.js";
import { strictTextDeserializer, type RequestSchemas } from "./text-rule.js";

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

export type { CallTracker } from "./interceptors/server.js";

/** What binding a service takes from the server that serves it. */
export interface BindingContext {
  tracker: () => CallTracker;
  schemas: RequestSchemas;
  verifier: TokenVerifier;
  /** Bound on the server's calls in flight, shared by every service it serves. */
  shedder?: LoadShedder;
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

export function bindService<D extends AnyServiceDefinition>(definition: D, impl: ServiceImpl<D>, context: BindingContext): ServiceBinding {
  const handlers: UntypedServiceImplementation = {};
  const served: Record<string, AnyMethod> = {};
  let name = "";
  for (const [key, method] of Object.entries(definition)) {
    const fn = (impl as Record<string, unknown>)[key];
    if (typeof fn !== "function") throw new Error(`implementation of ${method.path} is missing`);
    if (method.requestStream) throw new Error(`${method.path}: client streaming is not supported by the mesh`);
    requiredPermission(method.path); // fail at start-up, not at the first call, for a method nobody classified
    const middlewares = serverMiddlewares({ tracker: context.tracker, verifier: context.verifier, request: context.schemas.requestOf(method.path), shedder: context.shedder });
    name = methodLabels(method.path).grpc_service;
    served[key] = { ...method, requestDeserialize: strictTextDeserializer(method.requestDeserialize) };
    handlers[key] = method.responseStream
      ? streamingHandler(method, compose(middlewares, streamTo(fn as (r: unknown, c: CallContext) => AsyncIterable<unknown>)))
      : unaryHandler(method, compose(middlewares, respondWith(fn as (r: unknown, c: CallContext) => Promise<unknown>)));
  }
  return { definition: served, handlers, name };
}

/** The context a call starts with; the middlewares fill in its deadline, signal and caller. */
function initialContext(method: AnyMethod, call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>): CallContext {
  const labels = methodLabels(method.path);
  return {
    service: labels.grpc_service,
    method: labels.grpc_method,
    metadata: call.metadata,
    deadline: Number.POSITIVE_INFINITY,
    signal: new AbortController().signal,
    principal: undefined,
    tenantId: undefined,
    callerId: undefined,
    requestId: requestIdOf(call.metadata),
  };
}

/** A unary call's response, kept between the handler and the middleware that sends it. */
const responses = new WeakMap<ServerCall, unknown>();

function respondWith(fn: (r: unknown, c: CallContext) => Promise<unknown>): (call: ServerCall) => Promise<void> {
  return async (call) => {
    responses.set(call, await fn(call.request, call.ctx));
  };
}

/** Writes the handler's messages as they come, respecting HTTP/2 flow control, until the call is over. */
function streamTo(fn: (r: unknown, c: CallContext) => AsyncIterable<unknown>): (call: ServerCall) => Promise<void> {
  return async (call) => {
    const stream = call.grpc as ServerWritableStream<unknown, unknown>;
    const { signal } = call.ctx;
    for await (const message of fn(call.request, call.ctx)) {
      // Answered already (deadline, cancel): the rest of the handler's output is dropped.
      if (signal.aborted) return;
      // A slow reader must not make us buffer the whole stream.
      if (!stream.write(message)) await once(stream, "drain", { signal });
    }
  };
}

function unaryHandler(method: AnyMethod, run: (call: ServerCall) => Promise<void>): UntypedHandleCall {
  return (grpc: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const call: ServerCall = {
      method,
      type: "unary",
      grpc,
      request: grpc.request,
      startedAt: process.hrtime.bigint(),
      ctx: initialContext(method, grpc),
      reply: {
        ok: () => callback(null, responses.get(call)),
        error: (err) => callback(err),
      },
    };
    void run(call);
  };
}

function streamingHandler(method: AnyMethod, run: (call: ServerCall) => Promise<void>): UntypedHandleCall {
  return (grpc: ServerWritableStream<unknown, unknown>) => {
    const call: ServerCall = {
      method,
      type: "server_stream",
      grpc,
      request: grpc.request,
      startedAt: process.hrtime.bigint(),
      ctx: initialContext(method, grpc),
      reply: {
        ok: () => grpc.end(),
        error: (err) => grpc.emit("error", err),
      },
    };
    void run(call);
  };
}
