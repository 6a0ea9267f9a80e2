import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMessage } from "@bufbuild/protobuf";
import { HttpError } from "./errors.js";
import { loadRegistry } from "./http-rules.js";
import { resumable, resumeFrom } from "./stream-resume.js";

const registry = loadRegistry(["gen/rag.binpb"]);
const message = (name: string) => registry.getMessage(name) as DescMessage;

describe("resuming server streams over SSE", () => {
  it("numbers WatchJob events by their sequence, and other streams not at all", () => {
    const id = resumable(message("rag.v1.WatchJobResponse"));
    assert.ok(id);
    assert.equal(id({ sequence: "42", job: {} }), "42");
    assert.equal(resumable(message("rag.v1.AskStreamResponse")), undefined);
  });

  it("turns Last-Event-ID into after_sequence", () => {
    const input = message("rag.v1.WatchJobRequest");
    const request = create(input, { jobId: "j" } as never) as unknown as Record<string, unknown>;
    resumeFrom(input, request as never, "17");
    assert.equal(request.afterSequence, 17n);
  });

  it("keeps an after_sequence the request already names, and ignores an empty header", () => {
    const input = message("rag.v1.WatchJobRequest");
    const request = create(input, { jobId: "j", afterSequence: 5n } as never) as unknown as Record<string, unknown>;
    resumeFrom(input, request as never, "17");
    assert.equal(request.afterSequence, 5n);
    const fresh = create(input, {} as never) as unknown as Record<string, unknown>;
    resumeFrom(input, fresh as never, " ");
    assert.equal(fresh.afterSequence, 0n);
  });

  it("refuses a Last-Event-ID that is not an event id, naming the header", () => {
    const input = message("rag.v1.WatchJobRequest");
    for (const bad of ["abc", "-1", "1e3", "99999999999999999999"]) {
      assert.throws(
        () => resumeFrom(input, create(input) as never, bad),
        (err: unknown) => err instanceof HttpError && err.status === 400 && /Last-Event-ID/.test(err.message),
        bad,
      );
    }
  });
});
