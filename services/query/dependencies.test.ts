import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { transportFailureNamed } from "#mesh/client.js";
import { RpcError } from "#mesh/errors.js";
import { dependencyFailure } from "./dependencies.js";

/** A status as grpc-js makes it up when no connection could be made. */
function refused(): ServiceError {
  const err = new Error("14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:50053") as ServiceError;
  return Object.assign(err, { code: status.UNAVAILABLE, details: "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:50053", metadata: new Metadata() });
}

describe("dependencyFailure", () => {
  test("a dead dependency is named once, without its address", () => {
    const err = dependencyFailure("embeddings", transportFailureNamed("embeddings", refused()));
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, status.UNAVAILABLE);
    assert.equal(err.message, "embeddings is unavailable: could not connect");
    assert.equal(err.details.dependency, "embeddings");
  });

  test("a dependency's own answer is prefixed with its name", () => {
    const own = Object.assign(new Error("14 UNAVAILABLE: index offline") as ServiceError, { code: status.UNAVAILABLE, details: "index offline", metadata: new Metadata() });
    const err = dependencyFailure("retrieval", own) as RpcError;
    assert.equal(err.message, "retrieval is unavailable: index offline");
  });
});
