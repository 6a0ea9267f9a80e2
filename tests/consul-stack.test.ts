/**
 * The local stack with RAG_DISCOVERY=consul (issue 9, part 2): every replica registers itself with the
 * agent at CONSUL_HTTP_ADDR (here the Consul test double of testing/consul/server.ts, which follows the
 * agent's documented HTTP API; no Consul binary installs here), turns passing through its /readyz check,
 * and every client (services and the gateway) finds the others by name through the agent's blocking
 * queries. A replica that is stopped deregisters itself before it drains; one that is killed fails its
 * check and leaves the picks, and asks go on throughout.
 *
 *   LOG_LEVEL=error node --import tsx --test tests/consul-stack.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { IngestionServiceClient, JobState } from "#gen/rag/v1/ingestion.js";
import { SERVICE_NAMES } from "#mesh/catalogue.js";
import { startConsulTestServer, type ConsulTestServer } from "#testing/consul/server.js";
import { ingestTexts } from "#testing/ingest.js";
import { testRuntime } from "#testing/runtime.js";
import { STACK_ADMIN_KEY, restAsk } from "#testing/stack-probes.js";
import { startTestStack, type StackProcess, type TestStack } from "#testing/stack.js";

const ACL_TOKEN = "consul-acl-token-for-the-stack-test";
const HIGH = { burst: 10_000, perMinute: 600_000, perHour: 10_000_000 };

let consul: ConsulTestServer;
let env: TestStack;

before(async () => {
  consul = await startConsulTestServer({ aclToken: ACL_TOKEN, checkDeregisterIntervalMinMs: 1_000, checkReapIntervalMs: 500 });
  env = await startTestStack(
    {
      RAG_DISCOVERY: "consul",
      CONSUL_HTTP_ADDR: consul.address,
      CONSUL_HTTP_TOKEN: ACL_TOKEN,
      RAG_CONSUL_DEREGISTER_AFTER: "30s",
      IDENTITY_BOOTSTRAP_ADMIN_KEY: STACK_ADMIN_KEY,
      GATEWAY_RATE_LIMITS: JSON.stringify({ roles: { READER: HIGH, EDITOR: HIGH, ADMIN: HIGH }, tenant: HIGH }),
    },
    SERVICE_NAMES,
    { replicas: { query: 2, retrieval: 2 } },
  );
});

after(async () => {
  await env?.stop();
  await consul?.close();
});

test("every replica registers with Consul and passes; a stopped one deregisters, a killed one fails its check; asks go on", { timeout: 180_000 }, async (t) => {
  const processes = SERVICE_NAMES.flatMap((name) => env.processes(name));
  assert.equal(processes.length, SERVICE_NAMES.length + 2);
  // Each process is one registration (its id carries its own port), passing once its /readyz answers.
  await until(() => processes.every((p) => passing(idOf(p))), "every replica registered and passing", 30_000);
  t.diagnostic(`registered: ${consul.serviceIds().sort().join(", ")}`);
  assert.ok(consul.requests.every((r) => r.token === ACL_TOKEN), "every request to the agent carries the ACL token");

  // The gateway found query, and query found retrieval, embeddings and generation, by name through Consul.
  await ingest();
  assert.match(await restAsk(env.stack.gatewayUrl!, "When does the harbour gate close?"), /23:00/);

  // SIGTERM: the replica leaves Consul before it drains (no client picks it while it goes), then the
  // launcher starts it again and it registers anew.
  const stopped = env.processes("query")[1]!;
  const stoppedId = idOf(stopped);
  const before = deregistrations(stoppedId);
  stopped.signal("SIGTERM");
  await until(() => deregistrations(stoppedId) > before, `${stopped.id} deregistered`, 15_000);
  assert.match(await restAsk(env.stack.gatewayUrl!, "Where must boats moor?"), /pier seven/);
  await until(() => passing(stoppedId), `${stopped.id} registered again after its restart`, 60_000);

  // SIGKILL: no chance to deregister; its check fails and it leaves the passing set, asks go on, and the
  // restarted replica passes again.
  const killed = env.processes("retrieval")[1]!;
  const killedId = idOf(killed);
  const killedAt = Date.now();
  killed.signal("SIGKILL");
  await until(() => !passing(killedId), `${killed.id} failing its check`, 15_000);
  t.diagnostic(`a killed replica left the passing set after ${Date.now() - killedAt} ms`);
  for (const q of ["Until when does the canteen serve lunch?", "How much does the soup cost?"]) assert.match(await restAsk(env.stack.gatewayUrl!, q), /14:00|three euros/);
  await until(() => passing(killedId), `${killed.id} passing again after its restart`, 60_000);
  assert.match(await restAsk(env.stack.gatewayUrl!, "Where do visitors park?"), /minus two/);
});

/** The Consul id a replica registers under: `<service>-<host>-<grpc port>` (mesh/discovery/consul-registration.ts). */
function idOf(p: StackProcess): string {
  const port = p.grpcAddress.split(":").at(-1)!;
  const service = p.id.split("#")[0]!;
  const id = consul.serviceIds().find((s) => s.startsWith(`${service}-`) && s.endsWith(`-${port}`));
  return id ?? `${service}-?-${port}`;
}

function passing(id: string): boolean {
  const checks = Object.values(consul.serviceIds().includes(id) ? consul.checkStatuses(id) : {});
  return checks.length > 0 && checks.every((s) => s === "passing");
}

function deregistrations(id: string): number {
  return consul.requests.filter((r) => r.method === "PUT" && r.path === `/v1/agent/service/deregister/${id}`).length;
}

async function ingest(): Promise<void> {
  // The test reaches ingestion by its static address; ingestion reaches documents, embeddings and
  // retrieval by name through Consul.
  const ingestion = testRuntime({ discovery: env.discovery }).connect(IngestionServiceClient, "ingestion", { metadata: { "x-tenant-id": "default" }, deadlineMs: 60_000 });
  try {
    const job = await ingestTexts(ingestion, {
      "harbour.md": "# Harbour rules\n\nThe harbour gate closes at 23:00 every night. Boats must moor at pier seven.\n",
      "canteen.md": "# Canteen\n\nThe canteen serves lunch from noon until 14:00. Soup costs three euros.\n",
      "parking.md": "# Parking\n\nVisitors park on level minus two.\n",
    });
    assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, `${job.error}\n${env.recentLog()}`);
  } finally {
    ingestion.close();
  }
}


async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\nconsul: ${JSON.stringify(consul.serviceIds())}\n--- stack log ---\n${env.recentLog()}`);
    await sleep(200);
  }
}
