import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import type { Principal } from "./auth/principal.js";
import { UnauthenticatedError } from "./errors.js";

/**
 * Outbound-call hints: a mesh client turns these into the tenant and user of the service token it mints
 * (see client.ts). A server never trusts them: who is calling comes from the verified token only.
 */
export const TENANT_KEY = "x-tenant-id";
export const CALLER_KEY = "x-caller-id";
export const REQUEST_ID_KEY = "x-request-id";
/** Keys copied from an inbound call onto every outbound call it makes. */
export const PROPAGATED_KEYS = [REQUEST_ID_KEY] as const;

const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** What a handler knows about the call it is serving. */
export interface CallContext {
  /** e.g. "rag.v1.DocumentsService". */
  readonly service: string;
  /** e.g. "CreateDocument". */
  readonly method: string;
  readonly metadata: Metadata;
  /** Absolute deadline, epoch milliseconds. */
  readonly deadline: number;
  /** Aborted when the caller cancels or the deadline passes; pass it to anything slow. */
  readonly signal: AbortSignal;
  /** The verified caller; undefined only for public methods. */
  readonly principal: Principal | undefined;
  /** The caller's tenant, from its token. */
  readonly tenantId: string | undefined;
  /** The user the call is made by (or, for a service, on behalf of), from its token. */
  readonly callerId: string | undefined;
  readonly requestId: string;
}

const storage = new AsyncLocalStorage<CallContext>();

export function runInCall<T>(ctx: CallContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The call being served on this async path, if any: outbound clients inherit its deadline and identity. */
export function currentCall(): CallContext | undefined {
  return storage.getStore();
}

function first(metadata: Metadata, key: string): string | undefined {
  const v = metadata.get(key)[0];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** The caller's request id, or a new one: it ties together the logs of everything one request causes. */
export function requestIdOf(metadata: Metadata): string {
  return first(metadata, REQUEST_ID_KEY) ?? randomUUID();
}

/** The tenant every store query of this call must be scoped to; no tenant, no access. */
export function requireTenant(ctx: CallContext): string {
  if (!ctx.tenantId) throw new UnauthenticatedError("this call needs a tenant: the caller's token names none");
  if (!TENANT_PATTERN.test(ctx.tenantId)) {
    throw new UnauthenticatedError(`malformed tenant id in the caller's token: letters, digits, "_", "." and "-", at most 63`);
  }
  return ctx.tenantId;
}

/**
 * Work that outlives the call that started it (an ingestion job, a submitted ask, an event delivery): it
 * has a budget and an identity of its own. Nothing of a request may leak into it: not its deadline, not its
 * cancellation, or the work dies with the request (a REST call's 60 s deadline killed long jobs).
 */
export interface DetachedWork {
  /** For logs, e.g. "rag.v1.IngestionService". */
  service: string;
  /** For logs, e.g. "job". */
  method: string;
  /** Tenant and user the outbound service tokens are minted for. */
  tenantId: string | undefined;
  callerId: string | undefined;
  /** Ties the work's logs and outbound calls together (e.g. the job id). */
  requestId: string;
  /** Absolute deadline of the work, epoch milliseconds: its own budget, never a request's. */
  deadline: number;
  /** Stops the work early (cancel, shutdown); the deadline aborts it too. */
  signal?: AbortSignal;
}

/** The context background work runs in: outbound calls inherit its deadline, signal and identity. */
export function detachedContext(work: DetachedWork): CallContext {
  const metadata = new Metadata();
  metadata.set(REQUEST_ID_KEY, work.requestId);
  const remaining = Math.max(0, work.deadline - Date.now());
  // AbortSignal.timeout does not keep the process alive; beyond 2^31-1 ms a timer would fire at once.
  const expiry = AbortSignal.timeout(Math.min(remaining, 2 ** 31 - 1));
  return {
    service: work.service,
    method: work.method,
    metadata,
    deadline: work.deadline,
    signal: work.signal ? AbortSignal.any([work.signal, expiry]) : expiry,
    principal: undefined,
    tenantId: work.tenantId,
    callerId: work.callerId,
    requestId: work.requestId,
  };
}

/**
 * Runs `fn` outside whatever call is being served, in a context of its own (see DetachedWork). Use it for
 * everything started from a handler that must go on after the handler returns.
 */
export function runDetached<T>(work: DetachedWork | CallContext, fn: () => T): T {
  const ctx = "metadata" in work ? work : detachedContext(work);
  return storage.run(ctx, fn);
}

/** The identity of `call` (tenant, caller, request id), with a budget of its own: for work a call starts. */
export function detachedFrom(call: CallContext, budget: { method?: string; deadline: number; signal?: AbortSignal }): CallContext {
  return {
    ...detachedContext({
      service: call.service,
      method: budget.method ?? call.method,
      tenantId: call.tenantId,
      callerId: call.callerId,
      requestId: call.requestId,
      deadline: budget.deadline,
      signal: budget.signal,
    }),
    principal: call.principal,
  };
}
