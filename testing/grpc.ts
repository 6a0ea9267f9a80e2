import "#testing/auth.js";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import type { ServiceName } from "#mesh/catalogue.js";
import type { GeneratedClient, PromiseClient } from "#mesh/client.js";
import { errorDetails } from "#mesh/errors.js";
import type { AnyServiceDefinition } from "#mesh/handlers.js";
import { startServer, type RunningServer, type ServiceRegistration } from "#mesh/server.js";
import { runtime } from "./runtime.js";

/** The error a call failed with; fails the test if it succeeded. */
export async function rejection(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail("expected the call to fail");
}

/** INVALID_ARGUMENT that names `field` (in the message and the error details) and says `pattern`. */
export function expectInvalid(err: ServiceError, field: string, pattern: RegExp): void {
  assert.equal(err.code, status.INVALID_ARGUMENT, `expected INVALID_ARGUMENT, got ${status[err.code]}: ${err.details}`);
  assert.equal(errorDetails(err).field, field);
  assert.match(err.details, pattern);
}

/**
 * Clients of one service acting as a given tenant (`undefined`: no tenant at all), all closed by
 * `closeAll()`. The address is read at call time, so it can come from a `before` hook.
 */
export function tenantClients<D extends AnyServiceDefinition>(ctor: GeneratedClient<D>, name: ServiceName, address: () => string) {
  const open: PromiseClient<D>[] = [];
  return {
    as(tenant: string | undefined): PromiseClient<D> {
      const c = runtime.connect(ctor, name, { target: address(), metadata: tenant ? { "x-tenant-id": tenant } : {} });
      open.push(c);
      return c;
    },
    closeAll(): void {
      open.splice(0).forEach((c) => c.close());
    },
  };
}

/** In-process fake dependencies, served on free loopback ports; `protoFiles` (under proto/) feed reflection. */
export function startFakeServer(services: ServiceRegistration[], protoFiles: string[]): Promise<RunningServer> {
  return startServer(services, {
    grpcHost: "127.0.0.1",
    grpcPort: 0,
    adminHost: "127.0.0.1",
    adminPort: 0,
    defaultDeadlineMs: 30_000,
    shutdownDelayMs: 0,
    shutdownGraceMs: 2_000,
    protoFiles,
    verifier: runtime.verifier,
  });
}

/** Polls `check` until it holds (event-driven code that reports asynchronously, e.g. best-effort publishes); fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
