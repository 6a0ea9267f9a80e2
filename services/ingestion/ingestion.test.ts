import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { DocumentStatus, DocumentsServiceClient, ListChunksRequest, ListDocumentsRequest, UpdateDocumentRequest, type UpdateDocumentStatusRequest } from "#gen/rag/v1/documents.js";
import {
  IngestionMode,
  IngestionServiceClient,
  IngestionStage,
  JobEventType,
  JobState,
  StartJobRequest,
  type Job,
  type UploadedFile,
  WatchJobRequest,
  type WatchJobResponse,
} from "#gen/rag/v1/ingestion.js";
import type { PromiseClient } from "#mesh/client.js";
import { eventually, expectInvalid, rejection } from "#testing/grpc.js";
import { startTestPostgres, type TestPostgres } from "#testing/postgres.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { startFakes, type FakeSet } from "#testing/fakes/set.js";
import { runtime } from "#testing/runtime.js";

type Ingestion = PromiseClient<typeof IngestionServiceClient.service>;

let pg: TestPostgres;
let fakes: FakeSet<"documents" | "embeddings" | "retrieval" | "notifications">;
let service: ServiceProcess;
let databaseUrl: string;
const clients: Ingestion[] = [];

const MAX_FILES = 5;
const MAX_FILE_BYTES = 4096;

function as(tenant: string, target = service.address): Ingestion {
  const c = runtime.connect(IngestionServiceClient, "ingestion", { target, metadata: { "x-tenant-id": tenant }, deadlineMs: 60_000 });
  clients.push(c);
  return c;
}

const file = (filename: string, text: string, extra: Partial<UploadedFile> = {}): Partial<UploadedFile> => ({ filename, content: Buffer.from(text), ...extra });
const filesJob = (files: Partial<UploadedFile>[], extra: Partial<StartJobRequest> = {}) =>
  StartJobRequest.fromPartial({ source: { kind: { $case: "files", value: { files: files as UploadedFile[] } } }, ...extra });

/** Every message of WatchJob until the stream ends (it ends after the terminal state). */
async function watchToEnd(client: Ingestion, jobId: string): Promise<WatchJobResponse[]> {
  const out: WatchJobResponse[] = [];
  for await (const m of client.watchJob(WatchJobRequest.fromPartial({ jobId }), { deadlineMs: 60_000 })) out.push(m);
  return out;
}

async function runToEnd(client: Ingestion, req: StartJobRequest): Promise<Job> {
  const { job } = await client.startJob(req);
  const events = await watchToEnd(client, job!.jobId);
  return events[events.length - 1]!.job!;
}

const TERMINAL = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];

before(async () => {
  pg = await startTestPostgres();
  databaseUrl = await pg.createDatabase("ingestion");
  fakes = await startFakes("documents", "embeddings", "retrieval", "notifications");
  service = await startServiceProcess("ingestion", {
    DATABASE_URL: databaseUrl,
    RAG_ENDPOINTS: fakes.endpoints,
    INGESTION_ITEM_CONCURRENCY: "2",
    INGESTION_MAX_FILES: String(MAX_FILES),
    INGESTION_MAX_FILE_BYTES: String(MAX_FILE_BYTES),
    INGESTION_WEB_ALLOW_PRIVATE: "true",
    INGESTION_WATCH_POLL_MS: "500",
    // Only a restarting process may sweep a crashed one's jobs here, so the test sees the start-up sweep.
    INGESTION_SWEEP_MS: "3600000",
  });
});

after(async () => {
  clients.forEach((c) => c.close());
  if (process.env.INGESTION_TEST_LOGS) for (const line of service?.lines ?? []) if (/"level":"(warn|error)"/.test(line)) console.log(line);
  let code: number | null | undefined;
  try {
    code = await service?.stop();
  } finally {
    await fakes?.stop();
    await pg?.stop();
  }
  assert.equal(code, 0, "ingestion exits cleanly on SIGTERM");
});

const GUIDE = "# Guide\n\nInstall the agent on every host before the rollout starts.\n\n## Configure\n\nSet the endpoint in the configuration file and restart.";
const FAQ = "Frequently asked: the service keeps thirty days of history for every tenant.";
const NOTES = "# Notes\n\nRelease notes are published every second Tuesday of the month.";

describe("ingestion over gRPC", () => {
  test("a files job stores, embeds and indexes every file, and WatchJob follows it to SUCCEEDED", async () => {
    const tenant = "acme";
    const client = as(tenant);
    const req = filesJob(
      [file("guide.md", GUIDE, { metadata: { team: "ops" } }), file("faq.txt", FAQ, { sourceUri: "https://intranet/faq" }), file("notes.md", NOTES, { title: "Release notes" })],
      { collection: "handbook", displayName: "first load", tags: ["internal"], metadata: { team: "all", source: "upload" } },
    );
    const { job: started } = await client.startJob(req);
    assert.ok(started);
    assert.equal(started.state, JobState.JOB_STATE_QUEUED);
    assert.equal(started.tenantId, tenant);
    assert.equal(started.collection, "handbook");
    assert.equal(started.qualityOptions?.minTextLength, 20, "defaults filled in");
    const storedFiles = started.source?.kind?.$case === "files" ? started.source.kind.value.files : [];
    assert.equal(storedFiles.length, 3);
    assert.equal(storedFiles[0]!.content.length, 0, "file bytes are not kept on the job");
    assert.equal(storedFiles[0]!.sizeBytes, String(Buffer.byteLength(GUIDE)));

    const events = await watchToEnd(client, started.jobId);
    assert.equal(events[0]!.eventType, JobEventType.JOB_EVENT_TYPE_SNAPSHOT);
    const last = events[events.length - 1]!;
    assert.equal(last.eventType, JobEventType.JOB_EVENT_TYPE_STATE_CHANGED);
    assert.equal(last.job?.state, JobState.JOB_STATE_SUCCEEDED);
    const states = events.map((e) => e.job!.state);
    assert.ok(states.slice(0, -1).every((s) => !TERMINAL.includes(s)), "only the last message is terminal");
    assert.deepEqual([...states].sort(), states, "states only move forward");

    const job = last.job!;
    assert.equal(job.progress?.itemsDiscovered, "3");
    assert.equal(job.progress?.itemsSucceeded, "3");
    assert.equal(job.progress?.itemsProcessed, "3");
    assert.equal(job.progress?.documentsCreated, "3");
    assert.equal(job.progress?.passesCompleted, "1");
    assert.equal(job.qualityReport?.itemsChecked, "3");
    assert.ok(job.startTime && job.endTime && job.endTime >= job.startTime);

    const docs = fakes.documents.of(tenant);
    assert.equal(docs.length, 3);
    const guide = docs.find((d) => d.doc.filename === "guide.md")!;
    assert.equal(guide.doc.sourceUri, "upload://guide.md", "uploads without a source URI get upload://<filename>");
    assert.equal(docs.find((d) => d.doc.filename === "faq.txt")!.doc.sourceUri, "https://intranet/faq");
    assert.equal(docs.find((d) => d.doc.filename === "notes.md")!.doc.title, "Release notes");
    assert.deepEqual(guide.doc.metadata, { team: "ops", source: "upload" }, "file metadata wins over the job's");
    assert.deepEqual(guide.doc.tags, ["internal"]);
    assert.equal(guide.doc.collection, "handbook");

    const points = fakes.retrieval.pointsOf(tenant);
    const chunks = docs.flatMap((d) => d.chunks);
    assert.equal(job.progress?.chunksIndexed, String(chunks.length));
    assert.deepEqual(points.map((p) => p.chunkId).sort(), chunks.map((c) => c.chunkId).sort(), "every chunk indexed once");
    assert.ok(fakes.retrieval.upserts.filter((u) => u.tenant === tenant).every((u) => u.request.collection === "handbook"));
    const configure = points.find((p) => p.text.startsWith("Set the endpoint"))!;
    const source = guide.chunks.find((c) => c.chunkId === configure.chunkId)!;
    assert.equal(configure.documentId, guide.doc.documentId);
    assert.equal(configure.title, "Guide");
    assert.equal(configure.sourceUri, "upload://guide.md");
    assert.equal(configure.chunkIndex, source.index);
    assert.deepEqual(configure.headingPath, source.headingPath);
    assert.deepEqual(configure.tags, ["internal"]);
    assert.deepEqual(configure.metadata, { team: "ops", source: "upload" });
    assert.deepEqual(configure.vector, [configure.text.length, 1, 0]);
    assert.equal(configure.documentTime?.getTime(), guide.doc.createTime?.getTime());
    assert.ok(fakes.embeddings.calls.filter((c) => c.tenant === tenant).every((c) => c.request.inputType === 2), "embedded as documents");

    for (const d of docs) {
      assert.equal(d.doc.status, DocumentStatus.DOCUMENT_STATUS_INDEXED);
      const statuses = (fakes.documents.callsOf(tenant, "updateDocumentStatus") as UpdateDocumentStatusRequest[]).filter((r) => r.documentId === d.doc.documentId);
      assert.deepEqual(statuses.map((s) => [s.status, s.indexedVersion]), [[DocumentStatus.DOCUMENT_STATUS_INDEXING, "1"], [DocumentStatus.DOCUMENT_STATUS_INDEXED, "1"]]);
    }

    const { job: read } = await client.getJob({ jobId: job.jobId });
    assert.equal(read?.state, JobState.JOB_STATE_SUCCEEDED);
    assert.deepEqual(read?.progress, job.progress);
    const listed = await client.listJobs({ pageSize: 10, pageToken: "", state: JobState.JOB_STATE_SUCCEEDED, collection: "handbook" });
    assert.deepEqual(listed.jobs.map((j) => j.jobId), [job.jobId]);

    await eventually(() => fakes.notifications.eventsOf(tenant).some((e) => e.eventType === "ingestion.job.finished"), "the job-finished event");
    const published = fakes.notifications.eventsOf(tenant);
    assert.equal(published.filter((e) => e.eventType === "document.ingested").length, 3);
    const finished = published.find((e) => e.eventType === "ingestion.job.finished");
    assert.equal(finished?.payload?.job_id, job.jobId);
    assert.equal(finished?.payload?.state, "succeeded");
  });

  test("re-ingesting identical content does no work; a changed file embeds and upserts only its new chunks", async () => {
    const tenant = "reingest";
    const client = as(tenant);
    const first = await runToEnd(client, filesJob([file("guide.md", GUIDE), file("faq.txt", FAQ)]));
    assert.equal(first.state, JobState.JOB_STATE_SUCCEEDED);
    const embedded = fakes.embeddings.textsOf(tenant).length;
    const upserted = fakes.retrieval.pointsOf(tenant).length;
    const writes = () => fakes.documents.calls.filter((c) => c.tenant === tenant && ["createDocument", "updateDocument"].includes(c.method)).length;
    const writesBefore = writes();

    const same = await runToEnd(client, filesJob([file("guide.md", GUIDE), file("faq.txt", FAQ)]));
    assert.equal(same.state, JobState.JOB_STATE_SUCCEEDED);
    assert.equal(same.progress?.itemsSkipped, "2", "unchanged items are skipped");
    assert.equal(same.progress?.itemsSucceeded, "0");
    assert.equal(fakes.embeddings.textsOf(tenant).length, embedded, "nothing embedded again");
    assert.equal(fakes.retrieval.pointsOf(tenant).length, upserted, "nothing upserted again");
    assert.equal(writes(), writesBefore, "no document written");

    const guide = fakes.documents.of(tenant).find((d) => d.doc.filename === "guide.md")!;
    const oldIds = new Set(guide.chunks.map((c) => c.chunkId));
    const changed = `${GUIDE}\n\n## Rollback\n\nRoll back by reinstalling the previous package version.`;
    const third = await runToEnd(client, filesJob([file("guide.md", changed), file("faq.txt", FAQ)]));
    assert.equal(third.state, JobState.JOB_STATE_SUCCEEDED);
    assert.equal(third.progress?.documentsUpdated, "1");
    assert.equal(third.progress?.itemsSkipped, "1");
    assert.equal(fakes.documents.of(tenant).length, 2, "updated in place, not created again");
    const fresh = guide.chunks.filter((c) => !oldIds.has(c.chunkId));
    assert.equal(fresh.length, 2, "the two new paragraphs are new chunks");
    assert.deepEqual(fakes.embeddings.textsOf(tenant).slice(embedded), fresh.map((c) => c.text), "only the new chunks are embedded");
    assert.deepEqual(fakes.retrieval.pointsOf(tenant).slice(upserted).map((p) => p.chunkId), fresh.map((c) => c.chunkId), "only the new chunks are upserted");
    assert.equal(third.progress?.chunksIndexed, "2");
    const update = (fakes.documents.callsOf(tenant, "updateDocument") as UpdateDocumentRequest[]).at(-1)!;
    assert.equal(update.expectedVersion, "1");
    const lastStatus = (fakes.documents.callsOf(tenant, "updateDocumentStatus") as UpdateDocumentStatusRequest[]).at(-1)!;
    assert.equal(lastStatus.status, DocumentStatus.DOCUMENT_STATUS_INDEXED);
    assert.equal(lastStatus.indexedVersion, "2", "the version that was indexed");
  });

  test("a corrupt file is an item error, others succeed, and the quality report counts what was skipped", async () => {
    const tenant = "mixed";
    const client = as(tenant);
    const job = await runToEnd(
      client,
      filesJob([
        file("good.md", GUIDE),
        file("broken.pdf", "this is not a pdf at all"),
        file("empty.txt", ""),
        file("blank.md", "   \n\n  "),
        file("short.txt", "too short"),
      ]),
    );
    assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, "one bad item does not fail the job");
    assert.equal(job.progress?.itemsSucceeded, "1");
    assert.equal(job.progress?.itemsFailed, "1");
    assert.equal(job.progress?.itemsSkipped, "3");
    assert.equal(job.qualityReport?.unparseableCount, "1");
    assert.equal(job.qualityReport?.emptyCount, "2");
    assert.equal(job.qualityReport?.tooShortCount, "1");
    const { job: read } = await client.getJob({ jobId: job.jobId });
    assert.equal(read?.itemErrors.length, 1);
    assert.equal(read?.itemErrors[0]!.item, "broken.pdf");
    assert.equal(read?.itemErrors[0]!.stage, IngestionStage.INGESTION_STAGE_PARSE);
    assert.match(read!.itemErrors[0]!.message, /INVALID_ARGUMENT: .*not a valid PDF/);
    assert.ok(read!.qualityReport!.warnings.some((w) => /short\.txt: text shorter than min_text_length 20/.test(w)));
    assert.deepEqual(fakes.documents.of(tenant).map((d) => d.doc.filename), ["good.md"]);

    const dup = await runToEnd(client, filesJob([file("copy.md", GUIDE)]));
    assert.equal(dup.progress?.itemsSkipped, "1");
    assert.equal(dup.qualityReport?.duplicateCount, "1", "same text as a stored document");
    assert.equal(fakes.documents.of(tenant).length, 1);

    const kept = await runToEnd(client, filesJob([file("a.md", NOTES), file("b.md", NOTES)], { qualityOptions: { minTextLength: 5, keepDuplicates: true } }));
    assert.equal(kept.progress?.itemsSucceeded, "2");
    assert.equal(kept.qualityReport?.duplicateCount, "1", "kept, and still counted");

    const allBad = await runToEnd(client, filesJob([file("x.pdf", "garbage"), file("y.pdf", "more garbage")]));
    assert.equal(allBad.state, JobState.JOB_STATE_FAILED, "nothing succeeded");
    assert.match(allBad.error, /every item failed \(2\)/);
  });

  test("CancelJob stops taking items, lets the ones in flight finish, and ends CANCELLED", async () => {
    const tenant = "cancel";
    const client = as(tenant);
    let entered!: () => void;
    const reached = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    fakes.embeddings.hold = { tenant, entered, release: new Promise<void>((r) => (release = r)) };
    try {
      const files = [1, 2, 3, 4, 5].map((i) => file(`f${i}.txt`, `${FAQ} Number ${i}.`));
      const { job } = await client.startJob(filesJob(files));
      const watching = watchToEnd(as(tenant), job!.jobId);
      await reached;
      // A watcher that goes away early ends its own stream only.
      for await (const m of as(tenant).watchJob(WatchJobRequest.fromPartial({ jobId: job!.jobId }))) {
        assert.equal(m.eventType, JobEventType.JOB_EVENT_TYPE_SNAPSHOT);
        break;
      }
      const { job: cancelling } = await client.cancelJob({ jobId: job!.jobId });
      assert.equal(cancelling?.state, JobState.JOB_STATE_CANCELLING);
      release();
      const events = await watching;
      const last = events.at(-1)!.job!;
      assert.equal(last.state, JobState.JOB_STATE_CANCELLED);
      assert.ok(Number(last.progress?.itemsProcessed) <= 2, "at most the items in flight (2) were finished");
      assert.ok(fakes.documents.callsOf(tenant, "createDocument").length <= 2, "no item started after the cancel");
      await eventually(() => fakes.notifications.eventsOf(tenant).some((e) => e.eventType === "ingestion.job.finished" && e.payload?.state === "cancelled"), "the job-finished event");
      const again = await client.cancelJob({ jobId: job!.jobId });
      assert.equal(again.job?.state, JobState.JOB_STATE_CANCELLED, "cancelling an ended job is a no-op");
      assert.equal(again.job?.updateTime?.getTime(), last.updateTime?.getTime());
    } finally {
      fakes.embeddings.hold = undefined;
      release?.();
    }
  });

  test("a document changed while it is being indexed leaves no stale points in the index", async () => {
    const tenant = "race";
    let entered!: () => void;
    const reached = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    fakes.embeddings.hold = { tenant, entered, release: new Promise<void>((r) => (release = r)) };
    const docs = runtime.connect(DocumentsServiceClient, "documents", { target: fakes.endpoints.split(",")[0]!.split("=")[1]!, metadata: { "x-tenant-id": tenant } });
    try {
      const running = runToEnd(as(tenant), filesJob([file("race.md", `${NOTES}\n\nA second paragraph that will change.`)]));
      await reached;
      // Someone replaces the body while ingestion embeds the old chunks.
      const [doc] = (await docs.listDocuments(ListDocumentsRequest.fromPartial({}))).documents;
      const before = (await docs.listChunks(ListChunksRequest.fromPartial({ documentId: doc!.documentId, pageSize: 100 }))).chunks.map((c) => c.chunkId);
      await docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: doc!.documentId, content: Buffer.from("# Notes\n\nEntirely new text."), updateMask: ["content"] }));
      const after = new Set((await docs.listChunks(ListChunksRequest.fromPartial({ documentId: doc!.documentId, pageSize: 100 }))).chunks.map((c) => c.chunkId));
      release();
      const job = await running;
      assert.equal(Number(job.progress?.itemsFailed), 1, "indexing a version that no longer exists fails the item");
      const stale = before.filter((id) => !after.has(id));
      assert.ok(stale.length > 0);
      const deleted = new Set(fakes.retrieval.deletes.filter((d) => d.tenant === tenant).flatMap((d) => d.request.chunkIds));
      for (const id of stale) assert.ok(deleted.has(id), `the point written for stale chunk ${id} was removed`);
    } finally {
      fakes.embeddings.hold = undefined;
      release?.();
      docs.close();
    }
  });

  test("StartJob with a request_id already used returns the same job and starts nothing", async () => {
    const client = as("idem");
    const req = filesJob([file("one.md", NOTES)], { requestId: "upload-2024-06-01" });
    const { job: a } = await client.startJob(req);
    const { job: b } = await client.startJob(req);
    assert.equal(b?.jobId, a?.jobId);
    assert.equal(b?.requestId, "upload-2024-06-01");
    await watchToEnd(client, a!.jobId);
    const { job: c } = await client.startJob(req);
    assert.equal(c?.jobId, a?.jobId, "also after the job ended");
    const { jobs } = await client.listJobs({ pageSize: 0, pageToken: "", state: JobState.JOB_STATE_UNSPECIFIED, collection: "" });
    assert.equal(jobs.length, 1);
    assert.equal(fakes.documents.callsOf("idem", "createDocument").length, 1);
    const other = await as("idem-other").startJob(req);
    assert.notEqual(other.job?.jobId, a?.jobId, "request ids are per tenant");
  });

  test("another tenant can neither read, watch, list nor cancel a job", async () => {
    const owner = as("owner");
    const { job } = await owner.startJob(filesJob([file("mine.md", NOTES)]));
    const intruder = as("intruder");
    const notFound = (err: ServiceError) => assert.equal(err.code, status.NOT_FOUND, `${status[err.code]}: ${err.details}`);
    notFound(await rejection(intruder.getJob({ jobId: job!.jobId })));
    notFound(await rejection(intruder.cancelJob({ jobId: job!.jobId })));
    notFound(await rejection(watchToEnd(intruder, job!.jobId)));
    const { jobs } = await intruder.listJobs({ pageSize: 0, pageToken: "", state: JobState.JOB_STATE_UNSPECIFIED, collection: "" });
    assert.equal(jobs.length, 0);
    const ended = await watchToEnd(owner, job!.jobId);
    assert.equal(ended.at(-1)!.job!.state, JobState.JOB_STATE_SUCCEEDED);
    const noTenant = runtime.connect(IngestionServiceClient, "ingestion", { target: service.address });
    clients.push(noTenant);
    assert.equal((await rejection(noTenant.getJob({ jobId: job!.jobId }))).code, status.UNAUTHENTICATED);
  });

  test("lists jobs newest first, page by page", async () => {
    const client = as("pager");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.startJob(filesJob([file(`p${i}.md`, `${NOTES} Page ${i}.`)], { collection: "pages" }))).job!.jobId);
    const seen: string[] = [];
    let pageToken = "";
    for (let pages = 0; pages < 5; pages++) {
      const page = await client.listJobs({ pageSize: 2, pageToken, state: JobState.JOB_STATE_UNSPECIFIED, collection: "pages" });
      seen.push(...page.jobs.map((j) => j.jobId));
      pageToken = page.nextPageToken;
      if (!pageToken) break;
    }
    assert.deepEqual(seen, [...ids].reverse());
    expectInvalid(await rejection(client.listJobs({ pageSize: 1, pageToken: "garbage", state: JobState.JOB_STATE_UNSPECIFIED, collection: "" })), "page_token", /malformed/);
    for (const id of ids) await watchToEnd(client, id);
  });

  test("bad input is INVALID_ARGUMENT naming the field; connectors of a later release are refused the same way", async () => {
    const client = as("strict");
    expectInvalid(await rejection(client.startJob(StartJobRequest.fromPartial({}))), "source", /required/);
    expectInvalid(await rejection(client.startJob(filesJob([]))), "source.files.files", /at least one file/);
    const many = Array.from({ length: MAX_FILES + 1 }, (_, i) => file(`n${i}.md`, NOTES));
    expectInvalid(await rejection(client.startJob(filesJob(many))), "source.files.files", new RegExp(`at most ${MAX_FILES} files per job, got ${MAX_FILES + 1}`));
    const big = file("huge.md", "x".repeat(MAX_FILE_BYTES + 1));
    expectInvalid(await rejection(client.startJob(filesJob([file("ok.md", NOTES), big]))), "source.files.files[1].content", /"huge\.md" is 4097 bytes, over the limit of 4096/);
    expectInvalid(await rejection(client.startJob(filesJob([file("", NOTES)]))), "source.files.files[0].filename", /required/);
    expectInvalid(await rejection(client.startJob(filesJob([file("a.md", NOTES), file("a.md", FAQ)]))), "source.files.files[1].source_uri", /upload:\/\/a\.md.*files\[0\]/);
    expectInvalid(await rejection(client.startJob(filesJob([file("a.md", NOTES)], { collection: "Bad Name" }))), "collection", /not a valid name/);
    expectInvalid(await rejection(client.startJob(filesJob([file("a.md", NOTES)], { mode: IngestionMode.INGESTION_MODE_STREAMING }))), "mode", /not allowed for the files connector/);
    expectInvalid(await rejection(client.startJob(filesJob([file("a.md", NOTES)], { qualityOptions: { minTextLength: -1, keepDuplicates: false } }))), "quality_options.min_text_length", /negative/);
    const web = (startUrls: string[]) => StartJobRequest.fromPartial({ source: { kind: { $case: "webCrawl", value: { startUrls, maxPages: 0, allowedDomains: [], ignoreRobotsTxt: false } } } });
    expectInvalid(await rejection(client.startJob(web(["ftp://example.com/x"]))), "source.web_crawl.start_urls[0]", /only http and https/);
    expectInvalid(await rejection(client.startJob(web(["not a url"]))), "source.web_crawl.start_urls[0]", /not an absolute URL/);
    expectInvalid(await rejection(client.startJob(web([]))), "source.web_crawl.start_urls", /at least one/);
    const sql = await rejection(client.startJob(StartJobRequest.fromPartial({ source: { kind: { $case: "sql", value: { connection: "crm", query: "SELECT 1", idColumn: "id", textColumn: "t" } } } })));
    expectInvalid(sql, "source.sql", /SQL connector is not available/);
    expectInvalid(await rejection(client.getJob({ jobId: "" })), "job_id", /required/);
    assert.equal((await rejection(client.getJob({ jobId: "no-such-job" }))).code, status.NOT_FOUND);
    const { jobs } = await client.listJobs({ pageSize: 0, pageToken: "", state: JobState.JOB_STATE_UNSPECIFIED, collection: "" });
    assert.equal(jobs.length, 0, "no refused request left a job behind");
  });

  test("the web connector crawls linked pages of the site, honours robots.txt and max_depth, and indexes each page", async () => {
    const tenant = "web";
    const requests: string[] = [];
    const page = (title: string, body: string) => `<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`;
    const site: Server = createServer((req, res) => {
      requests.push(req.url ?? "");
      const html = (body: string, headers: Record<string, string> = {}) => res.writeHead(200, { "content-type": "text/html; charset=utf-8", ...headers }).end(body);
      switch (req.url) {
        case "/robots.txt":
          return res.writeHead(200, { "content-type": "text/plain" }).end("User-agent: *\nDisallow: /private\n");
        case "/":
          return html(page("Home", "<h1>Welcome</h1><p>The home page of the test site says hello to every visitor.</p>" +
            "<a href='/a'>A</a> <a href='b'>B</a> <a href='/private/x'>secret</a> <a href='http://example.invalid/elsewhere'>away</a>" +
            " <a href='/logo.png'>logo</a> <a href='mailto:someone@example.com'>mail</a> <a href='#top'>top</a>"));
        case "/a":
          return html(page("Page A", "<p>Page A explains how the crawler follows links breadth first.</p><a href='/b'>B</a> <a href='/'>home</a>"), {
            "last-modified": "Tue, 04 Jun 2024 10:00:00 GMT",
          });
        case "/b":
          return html(page("Page B", "<p>Page B links deeper, past the depth this crawl is allowed.</p><a href='/c'>C</a>"));
        default:
          return res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      }
    });
    await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    try {
      const client = as(tenant);
      const job = await runToEnd(
        client,
        StartJobRequest.fromPartial({ source: { kind: { $case: "webCrawl", value: { startUrls: [`${base}/`], maxDepth: 1, maxPages: 0, allowedDomains: [], ignoreRobotsTxt: false } } } }),
      );
      assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, job.error);
      assert.equal(job.progress?.itemsSucceeded, "3");
      assert.equal(job.progress?.itemsSkipped, "1", "the page robots.txt disallows");
      assert.ok(job.qualityReport?.warnings.some((w) => w.includes("/private/x: disallowed by robots.txt")));
      const docs = fakes.documents.of(tenant).map((d) => d.doc);
      assert.deepEqual(docs.map((d) => d.sourceUri).sort(), [`${base}/`, `${base}/a`, `${base}/b`]);
      assert.deepEqual(docs.map((d) => d.title).sort(), ["Home", "Page A", "Page B"]);
      assert.ok(docs.every((d) => d.contentType === "text/html"), "content type from the response");
      assert.deepEqual([...requests].sort(), ["/", "/a", "/b", "/robots.txt"], "no disallowed, off-site, non-document or too-deep fetch");
      const pointA = fakes.retrieval.pointsOf(tenant).find((p) => p.sourceUri === `${base}/a`);
      assert.equal(pointA?.documentTime?.toISOString(), "2024-06-04T10:00:00.000Z", "Last-Modified is the document time");
    } finally {
      await new Promise((resolve) => site.close(resolve));
    }
  });

  test("a job whose worker is killed (SIGKILL) mid-job is resumed by the next worker, skipping the items done, and succeeds", async () => {
    const tenant = "crash";
    const env = { DATABASE_URL: databaseUrl, RAG_ENDPOINTS: fakes.endpoints, INGESTION_ITEM_CONCURRENCY: "1" };
    let entered!: () => void;
    let reached = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    // The first item passes; the second is held in Embed when the worker dies.
    fakes.embeddings.hold = { tenant, entered: () => entered(), release: new Promise<void>((r) => (release = r)), from: 2 };
    const processes: ServiceProcess[] = [];
    try {
      const doomed = await startServiceProcess("ingestion", env);
      processes.push(doomed);
      const files = [file("a.md", `${NOTES} First.`), file("b.md", `${NOTES} Second.`), file("c.md", `${NOTES} Third.`)];
      const { job } = await as(tenant, doomed.address).startJob(filesJob(files));
      await reached;
      await doomed.stop("SIGKILL");
      const { job: orphan } = await as(tenant).getJob({ jobId: job!.jobId });
      assert.equal(orphan?.state, JobState.JOB_STATE_RUNNING, "a dead worker's job is not failed");

      reached = new Promise<void>((r) => (entered = r));
      const restarted = await startServiceProcess("ingestion", env);
      processes.push(restarted);
      await reached; // the resumed run is at the second item again
      release();
      const events = await watchToEnd(as(tenant, restarted.address), job!.jobId);
      const ended = events.at(-1)!.job!;
      assert.equal(ended.state, JobState.JOB_STATE_SUCCEEDED, ended.error);
      assert.equal(ended.progress?.itemsProcessed, "3", "every item counted once");
      assert.equal(ended.progress?.itemsSucceeded, "3");
      assert.equal(ended.progress?.itemsDiscovered, "3");
      const created = (fakes.documents.callsOf(tenant, "createDocument") as { filename: string }[]).map((r) => r.filename);
      assert.deepEqual(created.filter((f) => f === "a.md"), ["a.md"], "the item done before the crash is not done again");
      assert.equal(fakes.documents.of(tenant).length, 3);
      await eventually(() => fakes.notifications.eventsOf(tenant).some((e) => e.eventType === "ingestion.job.finished" && e.payload?.job_id === job!.jobId), "the job-finished event");
      assert.ok(!fakes.notifications.eventsOf(tenant).some((e) => e.eventType === "ingestion.job.failed"), "no job-failed event");
    } finally {
      fakes.embeddings.hold = undefined;
      release();
      await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    }
  });

  test("SIGTERM mid-job leaves the job RUNNING (exit 0), and the next worker to start finishes it", async () => {
    const tenant = "drain";
    const env = { DATABASE_URL: databaseUrl, RAG_ENDPOINTS: fakes.endpoints, INGESTION_ITEM_CONCURRENCY: "1" };
    let entered!: () => void;
    const reached = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    fakes.embeddings.hold = { tenant, entered: () => entered(), release: new Promise<void>((r) => (release = r)), from: 2 };
    const processes: ServiceProcess[] = [];
    try {
      const first = await startServiceProcess("ingestion", { ...env, INGESTION_MAX_ACTIVE_JOBS_PER_TENANT: "1" });
      processes.push(first);
      const { job } = await as(tenant, first.address).startJob(filesJob([file("one.md", `${NOTES} One.`), file("two.md", `${NOTES} Two.`)]));
      await reached;
      const busy = await rejection(as(tenant, first.address).startJob(filesJob([file("one-too-many.md", NOTES)])));
      assert.equal(busy.code, status.RESOURCE_EXHAUSTED);
      assert.match(busy.details, /already has 1 jobs queued or running \(limit 1\)/);
      assert.equal(await first.stop(), 0, "a graceful stop with a job running");
      const { job: left } = await as(tenant).getJob({ jobId: job!.jobId });
      assert.equal(left?.state, JobState.JOB_STATE_RUNNING, "left for the next worker, not failed");
      assert.equal(left?.error, "");

      fakes.embeddings.hold = undefined;
      release();
      const next = await startServiceProcess("ingestion", env);
      processes.push(next);
      const ended = (await watchToEnd(as(tenant, next.address), job!.jobId)).at(-1)!.job!;
      assert.equal(ended.state, JobState.JOB_STATE_SUCCEEDED, ended.error);
      assert.equal(ended.progress?.itemsSucceeded, "2");
      assert.equal(ended.progress?.itemsProcessed, "2");
    } finally {
      fakes.embeddings.hold = undefined;
      release();
      await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    }
  });

  test("a failing notifications service does not fail the job", async () => {
    const tenant = "quiet";
    fakes.notifications.failing = true;
    try {
      const job = await runToEnd(as(tenant), filesJob([file("n.md", NOTES)]));
      assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED);
      assert.equal(job.progress?.itemsSucceeded, "1");
    } finally {
      fakes.notifications.failing = false;
    }
  });
});
