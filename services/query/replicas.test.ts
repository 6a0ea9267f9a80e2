import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { AskRequest, AskState, SubmitAskRequest } from "#gen/rag/v1/query.js";
import { log } from "#mesh/logger.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { fakeAnswer } from "#testing/fakes/generation.js";
import { startFakes, type FakeSet } from "#testing/fakes/set.js";
import { startTestRedis, type TestRedis } from "#testing/redis.js";
import { expectCode, gate, pollAsk, queryClients, rejection, settled } from "#testing/query.js";

// Two query replicas sharing one Redis: what one stores (answers, submitted asks) the other serves.

log.silent = true;

const redis: TestRedis | undefined = await startTestRedis();
const RESULT_TTL_MS = 3_000;
let fakes: FakeSet<"embeddings" | "retrieval" | "generation">;
let a: ServiceProcess;
let b: ServiceProcess;
const onA = queryClients(() => a.address);
const onB = queryClients(() => b.address);
// Tenants unique to this run, so a shared REDIS_URL cannot hold entries from an earlier run.
const acme = `acme-${randomUUID().slice(0, 8)}`;
const globex = `globex-${randomUUID().slice(0, 8)}`;

describe("query replicas sharing Redis", { skip: redis ? false : "no REDIS_URL and no redis-server on PATH" }, () => {
  before(async () => {
    fakes = await startFakes("embeddings", "retrieval", "generation");
    const env = { RAG_ENDPOINTS: fakes.endpoints, REDIS_URL: redis!.url, ASK_RESULT_TTL_MS: String(RESULT_TTL_MS) };
    [a, b] = await Promise.all([startServiceProcess("query", env), startServiceProcess("query", env)]);
  });

  after(async () => {
    onA.closeAll();
    onB.closeAll();
    await Promise.all([a?.stop(), b?.stop()]);
    await fakes?.stop();
    await redis?.stop();
  });

  beforeEach(() => fakes.reset());

  test("an answer cached by one replica is served by the other", async () => {
    const req = AskRequest.fromPartial({ question: "How many days of leave do I get?", topK: 2 });
    assert.equal((await onA.as(acme).ask(req)).cached, false);
    const fromB = await onB.as(acme).ask(AskRequest.fromPartial({ ...req, question: "how many days of LEAVE do i get" }));
    assert.equal(fromB.cached, true);
    assert.equal(fakes.generation.calls.length, 1);
    assert.equal((await onB.as(globex).ask(req)).cached, false, "still per tenant");
  });

  test("an ask submitted to one replica is followed, and its result read, on the other; then it expires", async () => {
    const held = gate();
    fakes.generation.behaviour.generate = async (req) => (await held.pass(), fakeAnswer(req));
    const { askId } = await onA.as(acme).submitAsk(SubmitAskRequest.fromPartial({ question: "Who approves holidays?" }));
    await held.arrived;
    assert.equal((await onB.as(acme).getAskResult({ askId })).state, AskState.ASK_STATE_RUNNING);
    expectCode(await rejection(onB.as(globex).getAskResult({ askId })), status.NOT_FOUND);
    held.open();
    const done = await settled(onB.as(acme), askId);
    assert.equal(done.state, AskState.ASK_STATE_SUCCEEDED, `${done.errorCode}: ${done.errorMessage}`);
    assert.equal(done.result?.answered, true);
    assert.equal(done.question, "Who approves holidays?");

    // ASK_RESULT_TTL_MS after completion the result is gone (Redis expires it; we wait by polling, bounded).
    const gone = await rejection(pollAsk(onB.as(acme), askId, () => false));
    expectCode(gone, status.NOT_FOUND);
  });

  test("a replica shutting down fails its running asks, so nobody waits for them forever", async () => {
    const held = gate();
    fakes.generation.behaviour.generate = async (req) => (await held.pass(), fakeAnswer(req));
    const leaving = await startServiceProcess("query", { RAG_ENDPOINTS: fakes.endpoints, REDIS_URL: redis!.url });
    const onLeaving = queryClients(() => leaving.address);
    try {
      const { askId } = await onLeaving.as(acme).submitAsk(SubmitAskRequest.fromPartial({ question: "Will this survive a restart?" }));
      await held.arrived;
      onLeaving.closeAll();
      assert.equal(await leaving.stop(), 0);
      const failed = await onB.as(acme).getAskResult({ askId });
      assert.equal(failed.state, AskState.ASK_STATE_FAILED);
      assert.equal(failed.errorCode, "UNAVAILABLE");
      assert.match(failed.errorMessage, /shut down before the ask finished; submit it again/);
    } finally {
      held.open();
      onLeaving.closeAll();
      await leaving.stop();
    }
  });
});
