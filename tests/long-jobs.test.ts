/**
 * Long work is not bound to a request (issue 8): a job started over REST outlives the gateway's request
 * deadline and its events are delivered; a watcher cut off by connection ageing resumes from the last event
 * it saw and sees every event once. (Resumption after SIGKILL/SIGTERM of ingestion is tested beside the
 * service, in services/ingestion/ingestion.test.ts.)
 */
import "#testing/auth.js";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { IngestionServiceClient, JobEventType, JobState, StartJobRequest, WatchJobRequest, type UploadedFile, type WatchJobResponse } from "#gen/rag/v1/ingestion.js";
import type { PromiseClient } from "#mesh/client.js";
import { eventually } from "#testing/grpc.js";
import { startTestPostgres, type TestPostgres } from "#testing/postgres.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { createGateway, type Gateway } from "../gateway/node/gateway.js";
import { followJob } from "../cli/ingest-jobs.js";
import { startFakes, type FakeSet } from "#testing/fakes/set.js";
import { runtime } from "#testing/runtime.js";

type Ingestion = PromiseClient<typeof IngestionServiceClient.service>;

/** The gateway's request deadline in these tests: jobs here run longer than this. */
const GATEWAY_DEADLINE_MS = 1_000;

let pg: TestPostgres;
let fakes: FakeSet<"documents" | "embeddings" | "retrieval" | "notifications">;
let databaseUrl: string;
const processes: ServiceProcess[] = [];
/** Runs the jobs; its connections age as in production. */
let service: ServiceProcess;
const clients: Ingestion[] = [];

function as(tenant: string, target: string): Ingestion {
  const c = runtime.connect(IngestionServiceClient, "ingestion", { target, metadata: { "x-tenant-id": tenant }, deadlineMs: 60_000 });
  clients.push(c);
  return c;
}

const text = (n: number) => `# Part ${n}\n\nThis is part number ${n} of the long handbook, with enough words to be kept.`;
const file = (name: string, body: string): Partial<UploadedFile> => ({ filename: name, content: Buffer.from(body) });

async function ingestion(env: Record<string, string> = {}): Promise<ServiceProcess> {
  const p = await startServiceProcess("ingestion", { DATABASE_URL: databaseUrl, RAG_ENDPOINTS: fakes.endpoints, INGESTION_ITEM_CONCURRENCY: "1", INGESTION_WATCH_POLL_MS: "200", ...env });
  processes.push(p);
  return p;
}

before(async () => {
  pg = await startTestPostgres();
  databaseUrl = await pg.createDatabase("long_jobs");
  fakes = await startFakes("documents", "embeddings", "retrieval", "notifications");
  service = await ingestion();
});

after(async () => {
  clients.forEach((c) => c.close());
  try {
    await Promise.all(processes.map((p) => p.stop()));
  } finally {
    await fakes?.stop();
    await pg?.stop();
  }
});

describe("long jobs", () => {
  test("a job started over REST runs past the gateway's request deadline, succeeds, and its job-finished event is delivered", async () => {
    const tenant = "rest-long";
    const gateway: Gateway = createGateway({
      descriptorSets: ["gen/rag.binpb"],
      upstream: (name) => (name === "rag.v1.IngestionService" ? service.address : undefined),
      // The edge's job here is only to call as a user of the tenant; the deadline is what matters.
      policy: { admit: async () => ({ metadata: { authorization: (await runtime.tokens.authorization(tenant, "user-7"))! } }) },
      unaryTimeoutMs: GATEWAY_DEADLINE_MS,
    });
    const port = await gateway.listen(0, "127.0.0.1");
    // A slow dependency: every Embed takes longer than half the gateway's deadline, items go one by one.
    fakes.embeddings.delayMs = 600;
    try {
      const files = [1, 2, 3, 4].map((n) => ({ filename: `part-${n}.md`, content: Buffer.from(text(n)).toString("base64") }));
      const res = await fetch(`http://127.0.0.1:${port}/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ collection: "long", source: { files: { files } } }),
      });
      const body = (await res.json()) as { job?: { jobId: string; state: string } };
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.job?.state, "JOB_STATE_QUEUED", "StartJob returns at once");

      const events: WatchJobResponse[] = [];
      for await (const e of as(tenant, service.address).watchJob(WatchJobRequest.fromPartial({ jobId: body.job!.jobId }))) events.push(e);
      const job = events.at(-1)!.job!;
      assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, job.error);
      assert.equal(job.progress?.itemsSucceeded, "4", `no item failed for lack of time: ${JSON.stringify(job.progress)}`);
      assert.equal(job.progress?.itemsFailed, "0");
      await eventually(
        () => fakes.notifications.eventsOf(tenant).some((e) => e.eventType === "ingestion.job.finished" && e.payload?.job_id === job.jobId),
        "the job-finished event",
      );
      assert.equal(fakes.notifications.eventsOf(tenant).filter((e) => e.eventType === "document.ingested").length, 4);
    } finally {
      fakes.embeddings.delayMs = 0;
      await gateway.close();
    }
  });

  test("WatchJob streams cut by connection ageing are resumed after the last event: the CLI's watcher sees every event once and finishes", async () => {
    const tenant = "aged";
    // A replica whose connections age out every few hundred milliseconds, calls still open on them cut soon
    // after: the watch goes through it (the job runs on the other replica; watchers see it through the store).
    const aged = await ingestion({ GRPC_MAX_CONNECTION_AGE_MS: "300", GRPC_MAX_CONNECTION_AGE_GRACE_MS: "100" });
    const client = as(tenant, aged.address);
    let entered!: () => void;
    const reached = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    // The second item waits in Embed until the watcher has been cut off and has reconnected twice.
    fakes.embeddings.hold = { tenant, entered: () => entered(), release: released, from: 2 };
    const reconnects: unknown[] = [];
    const events: WatchJobResponse[] = [];
    try {
      const files = [file("a.md", text(1)), file("broken.pdf", "not a pdf at all"), file("b.md", text(2)), file("c.md", text(3))];
      const { job } = await as(tenant, service.address).startJob(StartJobRequest.fromPartial({ collection: "aged", source: { kind: { $case: "files", value: { files: files as UploadedFile[] } } } }));
      // What bin/rag ingest runs to follow a job.
      const ended = await followJob(client, job!, (e) => events.push(e), {
        initialBackoffMs: 20,
        onReconnect: (err) => {
          reconnects.push(err);
          if (reconnects.length >= 2) void reached.then(release);
        },
      });
      assert.equal(ended.state, JobState.JOB_STATE_SUCCEEDED, ended.error);
      assert.ok(reconnects.length >= 2, "the watch was cut and resumed");
      assert.equal(ended.progress?.itemsProcessed, "4");
      assert.equal(ended.progress?.itemsFailed, "1");

      const sequences = events.map((e) => BigInt(e.sequence));
      for (let i = 1; i < sequences.length; i++) assert.ok(sequences[i]! > sequences[i - 1]!, `sequences strictly increase: ${sequences.join(", ")}`);
      assert.equal(events.filter((e) => e.eventType === JobEventType.JOB_EVENT_TYPE_SNAPSHOT).length, 1, "one snapshot: resumed streams do not start over");
      // broken.pdf fails before the held item, so it may already be in the snapshot, or come as its own event: once either way.
      const failuresSeen = [
        ...events[0]!.job!.itemErrors.map((e) => e.item),
        ...events.filter((e) => e.eventType === JobEventType.JOB_EVENT_TYPE_ITEM_FAILED).map((e) => e.itemError?.item),
      ];
      assert.deepEqual(failuresSeen, ["broken.pdf"], "the item failure is seen once");
      assert.equal(events.filter((e) => e.job?.state === JobState.JOB_STATE_SUCCEEDED).length, 1, "the terminal event is seen once");
      assert.equal(events.at(-1)!.job?.state, JobState.JOB_STATE_SUCCEEDED);
    } finally {
      fakes.embeddings.hold = undefined;
      release();
    }
  });
  test("over REST, :watch events carry their sequence as SSE id, and Last-Event-ID resumes after it", async () => {
    const tenant = "rest-resume";
    const gateway: Gateway = createGateway({
      descriptorSets: ["gen/rag.binpb"],
      upstream: (name) => (name === "rag.v1.IngestionService" ? service.address : undefined),
      policy: { admit: async () => ({ metadata: { authorization: (await runtime.tokens.authorization(tenant, "user-8"))! } }) },
    });
    const port = await gateway.listen(0, "127.0.0.1");
    const sse = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(60_000) });
      assert.equal(res.status, 200);
      return (await res.text())
        .split("\n\n")
        .filter((block) => block.startsWith("id: "))
        .map((block) => {
          const [idLine, dataLine] = block.split("\n");
          return { id: idLine!.slice(4), data: JSON.parse(dataLine!.slice(6)) as { sequence: string; eventType: string; job?: { state: string } } };
        });
    };
    try {
      const files = [file("a.md", text(1)), file("broken.pdf", "not a pdf at all"), file("b.md", text(2))];
      const { job } = await as(tenant, service.address).startJob(StartJobRequest.fromPartial({ collection: "resume", source: { kind: { $case: "files", value: { files: files as UploadedFile[] } } } }));
      const whole = await sse(`/v1/jobs/${job!.jobId}:watch`);
      assert.ok(whole.length >= 2, JSON.stringify(whole));
      for (const e of whole) assert.equal(e.id, e.data.sequence, "the SSE id is the event's sequence");
      assert.equal(whole[0]!.data.eventType, "JOB_EVENT_TYPE_SNAPSHOT");
      assert.equal(whole.at(-1)!.data.job?.state, "JOB_STATE_SUCCEEDED");

      const after = whole[0]!.id;
      const resumed = await sse(`/v1/jobs/${job!.jobId}:watch`, { "last-event-id": after });
      assert.ok(resumed.length >= 1, "a resumed stream still ends with the job as it is");
      for (const e of resumed) assert.ok(BigInt(e.id) > BigInt(after), `event ${e.id} comes after Last-Event-ID ${after}`);
      assert.ok(!resumed.some((e) => e.data.eventType === "JOB_EVENT_TYPE_SNAPSHOT"), "a resumed stream does not start over");
      assert.equal(resumed.at(-1)!.data.job?.state, "JOB_STATE_SUCCEEDED");

      const bad = await fetch(`http://127.0.0.1:${port}/v1/jobs/${job!.jobId}:watch`, { headers: { "last-event-id": "not-an-id" } });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /Last-Event-ID/);
    } finally {
      await gateway.close();
    }
  });
});
