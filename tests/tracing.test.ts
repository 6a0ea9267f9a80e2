import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { GenerateRequest, GenerationServiceClient } from "#gen/rag/v1/generation.js";
import { startServiceProcess } from "#testing/service-process.js";
import { runtime } from "#testing/runtime.js";

test("a caller's W3C traceparent reaches the service's span and its JSON log line", async () => {
  // generation needs no database; a request it refuses is logged like any other call.
  const service = await startServiceProcess("generation");
  const traceId = randomBytes(16).toString("hex");
  const client = runtime.connect(GenerationServiceClient, "generation", {
    target: service.address,
    metadata: { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`, "x-tenant-id": "acme" },
  });
  try {
    const err = await client.generate(GenerateRequest.fromPartial({ question: "" })).catch((e: ServiceError) => e);
    assert.equal((err as ServiceError).code, status.INVALID_ARGUMENT);
    const logged = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const find = () => service.lines.map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } }).find((e) => e.rpc === "/rag.v1.GenerationService/Generate");
      const found = find();
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`no log line for the call:\n${service.lines.join("\n")}`)), 10_000);
      service.child.stdout!.on("data", () => {
        const entry = find();
        if (entry) (clearTimeout(timer), resolve(entry));
      });
    });
    assert.equal(logged.trace_id, traceId, "the server span continues the caller's trace");
    assert.match(String(logged.span_id), /^[0-9a-f]{16}$/);
    assert.equal(logged.service, "generation");
    assert.equal(logged.tenant, "acme");
    assert.equal(logged.code, "INVALID_ARGUMENT");
  } finally {
    client.close();
    assert.equal(await service.stop(), 0);
  }
});
