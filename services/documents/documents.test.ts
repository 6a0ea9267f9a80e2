import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import {
  CreateDocumentRequest,
  DeleteDocumentRequest,
  DocumentStatus,
  DocumentsServiceClient,
  GetDocumentRequest,
  ListChunksRequest,
  ListDocumentsRequest,
  UpdateDocumentRequest,
} from "#gen/rag/v1/documents.js";
import { connect, type PromiseClient } from "#mesh/client.js";
import { errorDetails } from "#mesh/errors.js";
import { startTestPostgres, type TestPostgres } from "#testing/postgres.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";

type Docs = PromiseClient<typeof DocumentsServiceClient.service>;

let pg: TestPostgres;
let service: ServiceProcess;
const clients: Docs[] = [];

function as(tenant: string | undefined): Docs {
  const c = connect(DocumentsServiceClient, "documents", { target: service.address, metadata: tenant ? { "x-tenant-id": tenant } : {} });
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail("expected the call to fail");
}

function expectInvalid(err: ServiceError, field: string, pattern: RegExp) {
  assert.equal(err.code, status.INVALID_ARGUMENT, `expected INVALID_ARGUMENT, got ${status[err.code]}: ${err.details}`);
  assert.equal(errorDetails(err).field, field);
  assert.match(err.details, pattern);
}

const create = (p: Partial<CreateDocumentRequest>) => CreateDocumentRequest.fromPartial(p);

before(async () => {
  pg = await startTestPostgres();
  const url = await pg.createDatabase("documents");
  service = await startServiceProcess("documents", { DATABASE_URL: url, MAX_DOCUMENT_BYTES: "65536" });
});

after(async () => {
  clients.forEach((c) => c.close());
  let code: number | null | undefined;
  try {
    code = await service?.stop();
  } finally {
    await pg?.stop();
  }
  assert.equal(code, 0, "documents exits cleanly on SIGTERM");
});

describe("documents over gRPC on Postgres", () => {
  test("create, read back, list, update and delete a markdown document", async () => {
    const docs = as("acme");
    const text = "# Onboarding guide\r\n\r\nNew hires get a laptop on day one.   \r\n";
    const { document: created, duplicate } = await docs.createDocument(create({ text, filename: "guide.md", tags: ["hr", "hr", "onboarding"], metadata: { team: "people" }, sourceUri: "https://intranet/guide" }));
    assert.equal(duplicate, false);
    assert.ok(created);
    assert.equal(created.title, "Onboarding guide", "title taken from the first heading");
    assert.equal(created.contentType, "text/markdown");
    assert.equal(created.tenantId, "acme");
    assert.equal(created.collection, "default");
    assert.deepEqual(created.tags, ["hr", "onboarding"]);
    assert.equal(created.status, DocumentStatus.DOCUMENT_STATUS_PENDING);
    assert.equal(created.version, "1");
    assert.match(created.contentHash, /^[0-9a-f]{64}$/);
    assert.equal(created.sizeBytes, String(Buffer.byteLength(text)));
    assert.equal(created.text, "", "text only on request");

    const { document: read } = await docs.getDocument(GetDocumentRequest.fromPartial({ documentId: created.documentId, includeText: true }));
    assert.equal(read?.text, "# Onboarding guide\n\nNew hires get a laptop on day one.", "stored normalised: LF, no trailing spaces");
    assert.deepEqual(read?.metadata, { team: "people" });
    assert.ok(read?.createTime instanceof Date);

    // Same content again, with skip_duplicate: the existing document comes back.
    const again = await docs.createDocument(create({ text: "# Onboarding guide\n\nNew hires get a laptop on day one.", filename: "copy.md", skipDuplicate: true }));
    assert.equal(again.duplicate, true);
    assert.equal(again.document?.documentId, created.documentId);

    const { document: renamed } = await docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: created.documentId, title: "Day one", tags: ["hr"] }));
    assert.equal(renamed?.title, "Day one");
    assert.deepEqual(renamed?.tags, ["hr"]);
    assert.equal(renamed?.version, "2");
    assert.equal(renamed?.contentHash, created.contentHash, "metadata update keeps the body");

    const { document: rewritten } = await docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: created.documentId, text: "# Day one\n\nBring an ID.", expectedVersion: "2" }));
    assert.notEqual(rewritten?.contentHash, created.contentHash);
    assert.equal(rewritten?.contentType, "text/markdown", "a new body keeps the document's type");
    assert.equal(rewritten?.version, "3");

    const stale = await rejection(docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: created.documentId, title: "x", expectedVersion: "2" })));
    assert.equal(stale.code, status.ABORTED);
    assert.match(stale.details, /version 3, not 2/);

    // An explicit mask clears a field.
    const { document: cleared } = await docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: created.documentId, updateMask: ["sourceUri", "metadata"] }));
    assert.equal(cleared?.sourceUri, "");
    assert.deepEqual(cleared?.metadata, {});

    const del = await docs.deleteDocument(DeleteDocumentRequest.fromPartial({ documentId: created.documentId }));
    assert.equal(del.deletedChunkCount, 0);
    const gone = await rejection(docs.getDocument(GetDocumentRequest.fromPartial({ documentId: created.documentId })));
    assert.equal(gone.code, status.NOT_FOUND);
    const twice = await rejection(docs.deleteDocument(DeleteDocumentRequest.fromPartial({ documentId: created.documentId })));
    assert.equal(twice.code, status.NOT_FOUND);
  });

  test("lists newest first, page by page, with filters", async () => {
    const docs = as("pager");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { document } = await docs.createDocument(create({ title: `note ${i}`, text: `note number ${i}`, tags: i % 2 === 0 ? ["even"] : [], collection: i < 4 ? "notes" : "other" }));
      ids.push(document!.documentId);
    }
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await docs.listDocuments(ListDocumentsRequest.fromPartial({ pageSize: 2, pageToken: token }));
      assert.ok(page.documents.length <= 2);
      seen.push(...page.documents.map((d) => d.documentId));
      token = page.nextPageToken;
      pages++;
    } while (token && pages < 10);
    assert.deepEqual(seen, [...ids].reverse(), "every document once, newest first");
    assert.equal(pages, 3);

    const even = await docs.listDocuments(ListDocumentsRequest.fromPartial({ tag: "even", collection: "notes" }));
    assert.deepEqual(even.documents.map((d) => d.title), ["note 2", "note 0"]);

    const first = await docs.listDocuments(ListDocumentsRequest.fromPartial({ pageSize: 1, tag: "even" }));
    const mismatched = await rejection(docs.listDocuments(ListDocumentsRequest.fromPartial({ pageSize: 1, pageToken: first.nextPageToken })));
    expectInvalid(mismatched, "page_token", /other filters/);
    expectInvalid(await rejection(docs.listDocuments(ListDocumentsRequest.fromPartial({ pageToken: "not-a-token" }))), "page_token", /malformed/);
    expectInvalid(await rejection(docs.listDocuments(ListDocumentsRequest.fromPartial({ pageSize: -1 }))), "page_size", /negative/);
  });

  test("bad input gets INVALID_ARGUMENT naming the field, and nothing is stored", async () => {
    const docs = as("strict");
    expectInvalid(await rejection(docs.createDocument(create({ text: "no title anywhere" }))), "title", /required/);
    expectInvalid(await rejection(docs.createDocument(create({ title: "empty" }))), "text", /empty/);
    expectInvalid(await rejection(docs.createDocument(create({ title: "blank", text: "  \n\t " }))), "text", /empty/);
    expectInvalid(await rejection(docs.createDocument(create({ title: "big", text: "x".repeat(65_537) }))), "text", /65537 bytes, over the limit of 65536/);
    expectInvalid(await rejection(docs.createDocument(create({ title: "both", text: "a", content: Buffer.from("b") }))), "text", /not both/);
    expectInvalid(await rejection(docs.createDocument(create({ content: Buffer.from("%PDF-1.4"), filename: "report.pdf" }))), "content_type", /application\/pdf \(report\.pdf\) is not supported/);
    expectInvalid(await rejection(docs.createDocument(create({ content: Buffer.from([0xff, 0xfe, 0x00]), filename: "x.txt" }))), "content", /not valid UTF-8/);
    expectInvalid(await rejection(docs.createDocument(create({ content: Buffer.from("abc"), filename: "blob" }))), "content_type", /cannot infer/);
    expectInvalid(await rejection(docs.createDocument(create({ title: "t", text: "x", collection: "Bad Name" }))), "collection", /not a valid name/);
    expectInvalid(await rejection(docs.createDocument(create({ title: "t", text: "x", tags: [""] }))), "tags", /1-64 characters/);
    expectInvalid(await rejection(docs.createDocument(create({ title: "t".repeat(1001), text: "x" }))), "title", /longer than 1000/);
    expectInvalid(await rejection(docs.getDocument(GetDocumentRequest.fromPartial({ documentId: "" }))), "document_id", /required/);

    const { documents } = await docs.listDocuments(ListDocumentsRequest.fromPartial({}));
    assert.equal(documents.length, 0, "no failed create left anything behind");

    const { document } = await docs.createDocument(create({ content: Buffer.from("plain words"), filename: "words.txt" }));
    assert.equal(document?.title, "words");
    assert.equal(document?.contentType, "text/plain");
    expectInvalid(await rejection(docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: document!.documentId }))), "update_mask", /nothing to update/);
    expectInvalid(await rejection(docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: document!.documentId, updateMask: ["collection"] }))), "update_mask", /immutable field "collection"/);
    expectInvalid(await rejection(docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: document!.documentId, updateMask: ["title"] }))), "title", /cannot be cleared/);
    const failedUpdate = await docs.getDocument(GetDocumentRequest.fromPartial({ documentId: document!.documentId }));
    assert.equal(failedUpdate.document?.version, "1", "a refused update changes nothing");

    for (const id of ["9d3c6c1e-0000-4000-8000-000000000000", "not-a-uuid"]) {
      const missing = await rejection(docs.getDocument(GetDocumentRequest.fromPartial({ documentId: id })));
      assert.equal(missing.code, status.NOT_FOUND);
      assert.match(missing.details, new RegExp(`document "${id}" not found`));
    }
  });

  test("tenant B cannot see, change or delete tenant A's documents", async () => {
    const a = as("tenant-a");
    const b = as("tenant-b");
    const { document } = await a.createDocument(create({ title: "A's secret", text: "the launch is on Friday" }));
    const id = document!.documentId;
    for (const call of [
      () => b.getDocument(GetDocumentRequest.fromPartial({ documentId: id })),
      () => b.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: id, title: "pwned" })),
      () => b.deleteDocument(DeleteDocumentRequest.fromPartial({ documentId: id })),
    ]) {
      const err = await rejection(call());
      assert.equal(err.code, status.NOT_FOUND, "another tenant's document does not exist for B");
    }
    const listed = await b.listDocuments(ListDocumentsRequest.fromPartial({}));
    assert.equal(listed.documents.length, 0);
    const still = await a.getDocument(GetDocumentRequest.fromPartial({ documentId: id }));
    assert.equal(still.document?.title, "A's secret");
    assert.equal(still.document?.version, "1");

    const anonymous = await rejection(as(undefined).getDocument(GetDocumentRequest.fromPartial({ documentId: id })));
    assert.equal(anonymous.code, status.UNAUTHENTICATED);
  });

  test("RPCs of later releases answer UNIMPLEMENTED, not a made-up result", async () => {
    const err = await rejection(as("acme").listChunks(ListChunksRequest.fromPartial({ documentId: "x" })));
    assert.equal(err.code, status.UNIMPLEMENTED);
  });
});
