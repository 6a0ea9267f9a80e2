/**
 * Replicas in the local stack (issue 9, part 3): `RAG_REPLICAS=query=2,retrieval=2,embeddings=2,generation=2`
 * as testing/stack.ts starts it, with real processes, embedded Postgres and one LanceDB folder that both
 * retrieval replicas write. Documents are ingested (ingestion's upserts land on either retrieval replica),
 * questions are asked over gRPC and REST, and every replica of every replicated service must have served
 * calls (its own grpc_server_handled_total). Then one query replica is SIGKILLed: asks keep being answered
 * by the other, and the launcher brings the killed one back on its ports, where it serves again.
 *
 *   LOG_LEVEL=error node --import tsx --test tests/replicas.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { IngestionServiceClient, JobState } from "#gen/rag/v1/ingestion.js";
import { AskRequest, QueryServiceClient, type AskResponse } from "#gen/rag/v1/query.js";
import { SERVICE_NAMES, type ServiceName } from "#mesh/catalogue.js";
import type { PromiseClient } from "#mesh/client.js";
import { ingestTexts } from "#testing/ingest.js";
import { testRuntime } from "#testing/runtime.js";
import { HARBOUR_DOCUMENTS, HARBOUR_QUESTIONS, STACK_ADMIN_KEY, handledCalls, isRunning, restAsk } from "#testing/stack-probes.js";
import { startTestStack, type TestStack } from "#testing/stack.js";

const HIGH = { burst: 10_000, perMinute: 600_000, perHour: 10_000_000 };
const REPLICATED = ["query", "retrieval", "embeddings", "generation"] as const satisfies readonly ServiceName[];
const TENANT = "default"; // the bootstrap tenant: the gateway's admin key asks in it too


let env: TestStack;
let ingestion: PromiseClient<typeof IngestionServiceClient.service>;
let query: PromiseClient<typeof QueryServiceClient.service>;

before(async () => {
  env = await startTestStack(
    { IDENTITY_BOOTSTRAP_ADMIN_KEY: STACK_ADMIN_KEY, GATEWAY_RATE_LIMITS: JSON.stringify({ roles: { READER: HIGH, EDITOR: HIGH, ADMIN: HIGH }, tenant: HIGH }) },
    SERVICE_NAMES,
    { replicas: { query: 2, retrieval: 2, embeddings: 2, generation: 2 } },
  );
  const runtime = testRuntime({ discovery: env.discovery });
  ingestion = runtime.connect(IngestionServiceClient, "ingestion", { metadata: { "x-tenant-id": TENANT }, deadlineMs: 60_000 });
  query = runtime.connect(QueryServiceClient, "query", { metadata: { "x-tenant-id": TENANT }, deadlineMs: 30_000 });
});

after(async () => {
  ingestion?.close();
  query?.close();
  await env?.stop();
});

test("two replicas of query, retrieval, embeddings and generation: each serves calls, and a SIGKILLed query replica is replaced while asks go on", { timeout: 150_000 }, async (t) => {
  // Every replica on its own ports; replica 1 keeps the service's first port.
  for (const name of REPLICATED) {
    const replicas = env.processes(name);
    assert.deepEqual(replicas.map((r) => r.id), [`${name}#1`, `${name}#2`]);
    assert.notEqual(replicas[0]!.grpcAddress, replicas[1]!.grpcAddress);
    assert.ok(replicas.every((r) => r.pid() !== undefined));
  }
  assert.equal(env.processes("documents").length, 1);

  const job = await ingestTexts(ingestion, HARBOUR_DOCUMENTS);
  assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, `${job.error} ${JSON.stringify(job.itemErrors)}\n${env.recentLog()}`);

  for (const [question, expected] of HARBOUR_QUESTIONS) assert.match((await ask(question)).answer, expected, question);
  assert.match(await restAsk(env.stack.gatewayUrl!, "When does the harbour gate close at night?"), /23:00/);

  // Both replicas of every replicated service did part of the work (round robin in every client).
  for (const name of REPLICATED) {
    const served = await Promise.all(env.processes(name).map((r) => handledCalls(r)));
    t.diagnostic(`${name}: calls handled per replica ${served.join(" / ")}`);
    assert.ok(served.every((n) => n > 0), `${name}: every replica serves calls, got ${served.join(" / ")}`);
  }
  assert.equal(env.unexpectedExits.length, 0, `no process ended on its own so far: ${JSON.stringify(env.unexpectedExits)}`);

  // As an OOM kill or `kill -9` would end it.
  const victim = env.processes("query")[1]!;
  const oldPid = victim.pid()!;
  victim.signal("SIGKILL");
  // While it is down (and until clients see it back), the other replica answers; a call that was on its
  // way to the dead one fails UNAVAILABLE and is asked again, as the status tells a caller to.
  const failures: string[] = [];
  for (const [question, expected] of HARBOUR_QUESTIONS.slice(0, 3)) assert.match((await untilAnswered(question, failures)).answer, expected);

  await until(() => victim.pid() !== oldPid && isRunning(env, victim.id), `${victim.id} restarted by the launcher`, 60_000);
  assert.deepEqual(
    env.unexpectedExits.map((e) => [e.name, e.exit.signal]),
    [[victim.id, "SIGKILL"]],
  );
  // The restarted replica is found again by the clients and serves asks (its counters start from zero).
  await until(
    async () => {
      await untilAnswered(HARBOUR_QUESTIONS[3]![0], failures);
      return (await handledCalls(victim)) > 0;
    },
    `${victim.id} serving asks again`,
    30_000,
  );
  for (const [question, expected] of HARBOUR_QUESTIONS) assert.match((await ask(question)).answer, expected, `${question} (after the restart)`);
  t.diagnostic(`${victim.id}: pid ${oldPid} killed, back as pid ${victim.pid()}; ${failures.length} UNAVAILABLE answer(s) retried: ${failures.slice(0, 2).join("; ")}`);
  assert.ok(failures.length <= 5, `few asks reached the dead replica: ${failures.join("; ")}`);
});


function ask(question: string): Promise<AskResponse> {
  return query.ask(AskRequest.fromPartial({ question, options: { bypassCache: true } }));
}

/** Asks until answered; UNAVAILABLE (a replica just killed) is recorded and asked again, anything else fails. */
async function untilAnswered(question: string, failures: string[]): Promise<AskResponse> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ask(question);
    } catch (err) {
      const e = err as ServiceError;
      if (e.code !== status.UNAVAILABLE || attempt >= 20) throw err;
      failures.push(e.details);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}




async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n--- stack log ---\n${env.recentLog()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
