/* Helpers for tests of the query service (its own tests and cross-service ones): clients, error and polling helpers. */
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { AskState, QueryServiceClient, type GetAskResultResponse } from "#gen/rag/v1/query.js";
import type { PromiseClient } from "#mesh/client.js";
import { rejection, tenantClients } from "#testing/grpc.js";

export type Query = PromiseClient<typeof QueryServiceClient.service>;

/** Clients to a query service at `address`, one per tenant (undefined: no tenant); closeAll() ends them. */
export function queryClients(address: () => string) {
  return tenantClients(QueryServiceClient, "query", address);
}

export { rejection };

export function expectCode(err: ServiceError, code: status, pattern?: RegExp): void {
  assert.equal(err.code, code, `expected ${status[code]}, got ${status[err.code]}: ${err.details}`);
  if (pattern) assert.match(err.details, pattern);
}

/** Polls GetAskResult until `done` holds (bounded): a background ask's progress is not an event a client can await. */
export async function pollAsk(client: Query, askId: string, done: (r: GetAskResultResponse) => boolean): Promise<GetAskResultResponse> {
  for (let i = 0; i < 400; i++) {
    const res = await client.getAskResult({ askId });
    if (done(res)) return res;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`ask ${askId} did not reach the expected state`);
}

/** Polls a submitted ask until it is SUCCEEDED or FAILED. */
export function settled(client: Query, askId: string): Promise<GetAskResultResponse> {
  return pollAsk(client, askId, (r) => r.state === AskState.ASK_STATE_SUCCEEDED || r.state === AskState.ASK_STATE_FAILED);
}

/** A gate a fake holds requests at until the test opens it; `arrived` resolves when the first request is held. */
export function gate() {
  let open!: () => void;
  let arrive!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const arrived = new Promise<void>((r) => (arrive = r));
  return { open, arrived, pass: () => (arrive(), opened) };
}
