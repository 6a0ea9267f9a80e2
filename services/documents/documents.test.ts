import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import {
  CreateDocumentRequest,
  DeleteDocumentRequest,
  DocumentStatus,
  DocumentsServiceClient,
  GetDocumentRequest,
  ListChunksRequest,
  ListDocumentsRequest,
  UpdateDocumentRequest,
  UpdateDocumentStatusRequest,
  type Chunk,
} from "#gen/rag/v1/documents.js";
import type { PromiseClient } from "#mesh/client.js";
import { UnavailableError } from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import { startFakes, type FakeSet } from "#testing/fakes/set.js";
import { expectInvalid, rejection, tenantClients } from "#testing/grpc.js";
import { startTestPostgres, type TestPostgres } from "#testing/postgres.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { makeDocx, makePdf } from "#testing/document-files.js";

type Docs = PromiseClient<typeof DocumentsServiceClient.service>;

let pg: TestPostgres;
let service: ServiceProcess;
/** The retrieval service documents calls to delete from its index: a test double (testing/fakes/retrieval.ts). */
let fakes: FakeSet<"retrieval">;
const docsClients = tenantClients(DocumentsServiceClient, "documents", () => service.address);
const as = docsClients.as;

/** The fake index's Deletes, as the requests it got with the tenant each carried. */
const deletes = () => fakes.retrieval.deletes.map((d) => ({ ...d.request, tenant: d.tenant }));
/** The fake index answers every Delete with UNAVAILABLE while it is down. */
const setRetrievalDown = (down: boolean) => void (fakes.retrieval.failing = down ? new UnavailableError("index shard offline") : undefined);

beforeEach(() => fakes.reset());




const create = (p: Partial<CreateDocumentRequest>) => CreateDocumentRequest.fromPartial(p);

const CHUNK_SIZE = 200;

before(async () => {
  log.silent = true; // the fake index's UNAVAILABLE answers are on purpose; the mesh would log each as an error
  fakes = await startFakes("retrieval");
  pg = await startTestPostgres();
  const url = await pg.createDatabase("documents");
  service = await startServiceProcess("documents", {
    DATABASE_URL: url,
    MAX_DOCUMENT_BYTES: "65536",
    CHUNK_SIZE: String(CHUNK_SIZE),
    CHUNK_OVERLAP: "40",
    RAG_ENDPOINTS: fakes.endpoints,
  });
});

after(async () => {
  docsClients.closeAll();
  let code: number | null | undefined;
  try {
    code = await service?.stop();
  } finally {
    await pg?.stop();
    await fakes?.stop();
  }
  assert.equal(code, 0, "documents exits cleanly on SIGTERM");
});

/** Every chunk of a document, page by page. */
async function allChunks(docs: Docs, documentId: string, pageSize = 0): Promise<Chunk[]> {
  const out: Chunk[] = [];
  let token = "";
  for (let pages = 0; pages < 100; pages++) {
    const page = await docs.listChunks(ListChunksRequest.fromPartial({ documentId, pageSize, pageToken: token }));
    out.push(...page.chunks);
    token = page.nextPageToken;
    if (!token) return out;
  }
  assert.fail("ListChunks did not end");
}

async function text(docs: Docs, documentId: string): Promise<string> {
  const { document } = await docs.getDocument(GetDocumentRequest.fromPartial({ documentId, includeText: true }));
  return document!.text;
}

/** Chunks tile the stored text: each is exactly its slice (code points), in order. */
function assertChunksMatch(body: string, chunks: Chunk[]) {
  const points = [...body];
  chunks.forEach((c, i) => {
    assert.equal(c.index, i);
    assert.equal(points.slice(c.startOffset, c.endOffset).join(""), c.text, `chunk ${i} is its slice of the text`);
    assert.ok([...c.text].length <= CHUNK_SIZE);
    assert.match(c.chunkId, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(c.contentHash, /^[0-9a-f]{64}$/);
    assert.ok(c.tokenCount > 0);
  });
}

const GUIDE = [
  "# Handbook",
  "## Leave",
  "Everyone gets thirty days of paid leave a year. Unused days carry over to the next year, up to ten days. Ask your manager before you book anything longer than two weeks.",
  "## Equipment",
  "New hires get a laptop on day one. Laptops are replaced every three years, or sooner when they break. Return your laptop when you leave the company.",
  "## Travel",
  "Book travel through the portal. Economy class for flights under six hours; business class above. Keep every receipt for the expense report.",
].join("\n\n");

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
    assert.equal(read?.text, "Onboarding guide\n\nNew hires get a laptop on day one.", "stored normalised: LF, no trailing spaces, no markdown syntax");
    assert.equal(read?.chunkCount, 1);
    assert.equal(read?.textLength, [...read!.text].length);
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
    assert.equal(del.deletedChunkCount, 1);
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
    expectInvalid(await rejection(docs.createDocument(create({ content: Buffer.from("PK"), filename: "slides.pptx", contentType: "application/vnd.ms-powerpoint" }))), "content_type", /application\/vnd\.ms-powerpoint \(slides\.pptx\) is not supported/);
    expectInvalid(await rejection(docs.createDocument(create({ content: Buffer.from("%PDF-1.4"), filename: "report.pdf" }))), "content", /report\.pdf is not a valid PDF/);
    expectInvalid(await rejection(docs.createDocument(create({ content: Buffer.from("PK\u0003\u0004 broken"), filename: "memo.docx" }))), "content", /memo\.docx is not a readable \.docx file/);
    expectInvalid(await rejection(docs.createDocument(create({ text: "%PDF-1.4", filename: "report.pdf" }))), "text", /binary format; send the file's bytes in content/);
    expectInvalid(await rejection(docs.createDocument(create({ text: "<html><script>x()</script></html>", filename: "empty.html" }))), "text", /empty\.html is empty after removing whitespace and markup/);
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
    // A bad value outside the mask is still a bad request, not silently dropped.
    expectInvalid(await rejection(docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: document!.documentId, updateMask: ["title"], title: "t", tags: ["x".repeat(65)] }))), "tags", /./);
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
      () => b.listChunks(ListChunksRequest.fromPartial({ documentId: id })),
      () => b.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: DocumentStatus.DOCUMENT_STATUS_INDEXED })),
    ]) {
      const err = await rejection(call());
      assert.equal(err.code, status.NOT_FOUND, "another tenant's document does not exist for B");
    }
    const listed = await b.listDocuments(ListDocumentsRequest.fromPartial({}));
    assert.equal(listed.documents.length, 0);
    const still = await a.getDocument(GetDocumentRequest.fromPartial({ documentId: id }));
    assert.equal(still.document?.title, "A's secret");
    assert.equal(still.document?.version, "1");
    assert.equal(still.document?.status, DocumentStatus.DOCUMENT_STATUS_PENDING);
    assert.deepEqual((await allChunks(a, id)).map((c) => c.text), ["the launch is on Friday"], "A still lists its chunks");
    assert.equal(deletes().length, 0, "B's refused delete never reached the index");

    const anonymous = await rejection(as(undefined).getDocument(GetDocumentRequest.fromPartial({ documentId: id })));
    assert.equal(anonymous.code, status.UNAUTHENTICATED);
  });


  test("ListChunks pages through a new document's chunks: exact slices, heading paths, real chunk_count", async () => {
    const docs = as("chunky");
    const { document } = await docs.createDocument(create({ text: GUIDE, filename: "handbook.md" }));
    const id = document!.documentId;
    assert.equal(document?.title, "Handbook");
    const body = await text(docs, id);
    assert.ok(!body.includes("#"), "markdown syntax is not part of the text");
    const paged = await allChunks(docs, id, 1);
    assert.ok(paged.length >= 3, `several chunks at CHUNK_SIZE=${CHUNK_SIZE}, got ${paged.length}`);
    assert.equal(document?.chunkCount, paged.length);
    assertChunksMatch(body, paged);
    assert.deepEqual(await allChunks(docs, id), paged, "one page or many, the same chunks");
    assert.deepEqual(
      [...new Set(paged.map((c) => c.headingPath.join(" > ")))],
      ["Handbook > Leave", "Handbook > Equipment", "Handbook > Travel"],
      "every chunk knows its enclosing headings",
    );
    assert.ok(paged.every((c) => c.documentId === id));

    expectInvalid(await rejection(docs.listChunks(ListChunksRequest.fromPartial({ documentId: id, pageToken: "bogus" }))), "page_token", /malformed/);
    expectInvalid(await rejection(docs.listChunks(ListChunksRequest.fromPartial({ documentId: "" }))), "document_id", /required/);
    const missing = await rejection(docs.listChunks(ListChunksRequest.fromPartial({ documentId: "9d3c6c1e-0000-4000-8000-000000000000" })));
    assert.equal(missing.code, status.NOT_FOUND);

    // A listing that spans a change of the document is refused rather than mixing two versions.
    const first = await docs.listChunks(ListChunksRequest.fromPartial({ documentId: id, pageSize: 1 }));
    await docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: id, text: `${GUIDE}\n\n## Parking\n\nPark anywhere.` }));
    const stale = await rejection(docs.listChunks(ListChunksRequest.fromPartial({ documentId: id, pageSize: 1, pageToken: first.nextPageToken })));
    assert.equal(stale.code, status.ABORTED);
    assert.match(stale.details, /list its chunks again from the first page/);
  });

  test("PDF, Word and HTML files become text with their headings; broken files are refused by name", async () => {
    const docs = as("files");
    const pdf = await makePdf([
      { heading: "Getting started", paragraphs: ["Install the agent on every host. It reports to the central server every minute."] },
      { heading: "Troubleshooting", paragraphs: ["If a host stops reporting, restart the agent. Then check the firewall rules."] },
    ]);
    const { document: fromPdf } = await docs.createDocument(create({ content: pdf, filename: "agent-guide.pdf" }));
    assert.equal(fromPdf?.contentType, "application/pdf");
    assert.equal(fromPdf?.title, "Getting started", "the first heading names it");
    const pdfText = await text(docs, fromPdf!.documentId);
    assert.match(pdfText, /^Getting started\n\nInstall the agent on every host\. It reports to the central server every minute\.\n\nTroubleshooting\n\nIf a host stops reporting/);
    const pdfChunks = await allChunks(docs, fromPdf!.documentId);
    assertChunksMatch(pdfText, pdfChunks);
    assert.deepEqual(pdfChunks.map((c) => c.headingPath), [["Getting started"], ["Troubleshooting"]]);

    const docx = await makeDocx([
      { heading: 1, text: "Benefits" },
      { text: "Everyone gets thirty days of leave, ", bold: "paid." },
      { heading: 2, text: "Dental" },
      { text: "Dental care is covered in full." },
    ]);
    const { document: fromDocx } = await docs.createDocument(create({ content: docx, filename: "benefits.docx" }));
    assert.equal(fromDocx?.contentType, "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    assert.equal(fromDocx?.title, "Benefits");
    assert.equal(await text(docs, fromDocx!.documentId), "Benefits\n\nEveryone gets thirty days of leave, paid.\n\nDental\n\nDental care is covered in full.");
    assert.deepEqual((await allChunks(docs, fromDocx!.documentId)).map((c) => c.headingPath), [["Benefits"], ["Benefits", "Dental"]]);

    const html = `<!doctype html><html><head><title>Release notes</title><script>trackVisitor()</script><style>p{color:red}</style></head>
      <body><header><a href="/">Example Corp</a></header><nav><a href="/">Home</a> <a href="/about">About us</a></nav>
      <main><h1>Version 2.0</h1><p>Faster search &amp; smaller&nbsp;indexes.</p><h2>Fixes</h2><ul><li>Login works again.</li><li>Exports finish.</li></ul></main>
      <footer>&copy; 2024 Example Corp</footer></body></html>`;
    const { document: fromHtml } = await docs.createDocument(create({ text: html, filename: "notes.html" }));
    assert.equal(fromHtml?.title, "Release notes", "<title> names it");
    assert.equal(await text(docs, fromHtml!.documentId), "Version 2.0\n\nFaster search & smaller\u00A0indexes.\n\nFixes\n\n- Login works again.\n- Exports finish.");
    assert.deepEqual((await allChunks(docs, fromHtml!.documentId)).map((c) => c.headingPath), [["Version 2.0"], ["Version 2.0", "Fixes"]]);

    expectInvalid(await rejection(docs.createDocument(create({ content: pdf.subarray(0, pdf.length / 2), filename: "torn.pdf" }))), "content", /torn\.pdf /);
    const locked = await makePdf([{ heading: "Secret", paragraphs: ["Eyes only."] }], { userPassword: "s3cret" });
    expectInvalid(await rejection(docs.createDocument(create({ content: locked, filename: "locked.pdf" }))), "content", /locked\.pdf is password-protected/);
    expectInvalid(await rejection(docs.createDocument(create({ content: docx.subarray(0, 100), filename: "torn.docx" }))), "content", /torn\.docx is not a readable \.docx file/);
    const { documents } = await docs.listDocuments(ListDocumentsRequest.fromPartial({}));
    assert.equal(documents.length, 3, "nothing stored for the refused files");
  });

  test("DeleteDocument removes the points from the index first; when the index is down nothing is deleted", async () => {
    const docs = as("deleter");
    const { document } = await docs.createDocument(create({ text: GUIDE, filename: "handbook.md", collection: "handbook" }));
    const id = document!.documentId;
    const chunks = await allChunks(docs, id);

    setRetrievalDown(true);
    const failed = await rejection(docs.deleteDocument(DeleteDocumentRequest.fromPartial({ documentId: id })));
    assert.equal(failed.code, status.UNAVAILABLE, `got ${status[failed.code]}: ${failed.details}`);
    assert.match(failed.details, /could not remove document .* from the retrieval index .*the document was not changed/);
    const still = await docs.getDocument(GetDocumentRequest.fromPartial({ documentId: id }));
    assert.equal(still.document?.chunkCount, chunks.length);
    assert.deepEqual(await allChunks(docs, id), chunks, "rows and chunks are untouched");

    setRetrievalDown(false);
    const deleted = await docs.deleteDocument(DeleteDocumentRequest.fromPartial({ documentId: id }));
    assert.equal(deleted.deletedChunkCount, chunks.length);
    assert.deepEqual(deletes(), [{ collection: "handbook", documentIds: [id], chunkIds: [], tenant: "deleter" }], "one Delete, scoped by the caller's tenant");
    assert.equal((await rejection(docs.getDocument(GetDocumentRequest.fromPartial({ documentId: id })))).code, status.NOT_FOUND);
    assert.equal((await rejection(docs.listChunks(ListChunksRequest.fromPartial({ documentId: id })))).code, status.NOT_FOUND);
  });

  test("UpdateDocument re-chunks: unchanged chunks keep their ids, only stale ones leave the index", async () => {
    const docs = as("editor");
    const { document } = await docs.createDocument(create({ text: GUIDE, filename: "handbook.md" }));
    const id = document!.documentId;
    const before = await allChunks(docs, id);
    const indexed = await docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: DocumentStatus.DOCUMENT_STATUS_INDEXED, indexedVersion: "1" }));
    assert.equal(indexed.document?.status, DocumentStatus.DOCUMENT_STATUS_INDEXED);

    const edited = GUIDE.replace("Book travel through the portal.", "Book all travel through the new portal.");
    setRetrievalDown(true);
    const failed = await rejection(docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: id, text: edited })));
    assert.equal(failed.code, status.UNAVAILABLE);
    const unchanged = await docs.getDocument(GetDocumentRequest.fromPartial({ documentId: id }));
    assert.equal(unchanged.document?.version, "1");
    assert.equal(unchanged.document?.contentHash, document?.contentHash);
    assert.equal(unchanged.document?.status, DocumentStatus.DOCUMENT_STATUS_INDEXED);
    assert.deepEqual(await allChunks(docs, id), before, "a failed update leaves the chunks");

    setRetrievalDown(false);
    const { document: updated } = await docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: id, text: edited }));
    assert.equal(updated?.version, "2");
    assert.equal(updated?.status, DocumentStatus.DOCUMENT_STATUS_PENDING, "new chunks wait for indexing");
    const after = await allChunks(docs, id);
    assert.equal(updated?.chunkCount, after.length);
    assertChunksMatch(await text(docs, id), after);
    const ids = (cs: Chunk[]) => new Set(cs.map((c) => c.chunkId));
    const travel = (c: Chunk) => c.headingPath.includes("Travel");
    for (const c of before.filter((c) => !travel(c))) assert.ok(ids(after).has(c.chunkId), `untouched chunk ${c.index} keeps its id`);
    const stale = before.filter((c) => !ids(after).has(c.chunkId));
    assert.ok(stale.length > 0 && stale.every(travel), "only the edited section's chunks went stale");
    assert.deepEqual(deletes(), [{ collection: "default", documentIds: [], chunkIds: stale.map((c) => c.chunkId), tenant: "editor" }]);

    // The indexing run of version 1 reports late: too late.
    const late = await rejection(docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: DocumentStatus.DOCUMENT_STATUS_INDEXED, indexedVersion: "1" })));
    assert.equal(late.code, status.ABORTED);
    assert.match(late.details, /version 2: the outcome of indexing version 1 is stale/);
    await docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: DocumentStatus.DOCUMENT_STATUS_INDEXED, indexedVersion: "2" }));

    // Dropping the last section only removes chunks: nothing new to index, so the document stays searchable.
    fakes.retrieval.deletes.length = 0;
    const shorter = edited.slice(0, edited.indexOf("## Travel")).trim();
    const { document: trimmed } = await docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: id, text: shorter }));
    assert.equal(trimmed?.status, DocumentStatus.DOCUMENT_STATUS_INDEXED);
    const left = await allChunks(docs, id);
    assert.deepEqual(left, after.filter((c) => !travel(c)), "the other chunks are exactly as they were");
    assert.deepEqual(deletes().flatMap((d) => d.chunkIds), after.filter(travel).map((c) => c.chunkId));

    // Tags travel with every point in the index: changing them means re-indexing.
    const { document: tagged } = await docs.updateDocument(UpdateDocumentRequest.fromPartial({ documentId: id, tags: ["policy"] }));
    assert.equal(tagged?.status, DocumentStatus.DOCUMENT_STATUS_PENDING);
    assert.deepEqual(await allChunks(docs, id), left, "a metadata change keeps the chunks");
  });

  test("UpdateDocumentStatus records the indexing outcome without a new version", async () => {
    const docs = as("indexer");
    const { document } = await docs.createDocument(create({ title: "Notes", text: "Short note." }));
    const id = document!.documentId;
    const indexing = await docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: DocumentStatus.DOCUMENT_STATUS_INDEXING }));
    assert.equal(indexing.document?.status, DocumentStatus.DOCUMENT_STATUS_INDEXING);
    assert.equal(indexing.document?.indexTime, undefined);
    const failed = await docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: DocumentStatus.DOCUMENT_STATUS_FAILED, statusMessage: "embeddings: UNAVAILABLE", indexedVersion: "1" }));
    assert.equal(failed.document?.status, DocumentStatus.DOCUMENT_STATUS_FAILED);
    assert.equal(failed.document?.statusMessage, "embeddings: UNAVAILABLE");
    const listed = await docs.listDocuments(ListDocumentsRequest.fromPartial({ status: DocumentStatus.DOCUMENT_STATUS_FAILED }));
    assert.deepEqual(listed.documents.map((d) => d.documentId), [id]);
    const done = await docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: DocumentStatus.DOCUMENT_STATUS_INDEXED }));
    assert.equal(done.document?.status, DocumentStatus.DOCUMENT_STATUS_INDEXED);
    assert.ok(done.document?.indexTime instanceof Date);
    assert.equal(done.document?.version, "1", "a status is not a revision");

    for (const bad of [DocumentStatus.DOCUMENT_STATUS_UNSPECIFIED, DocumentStatus.DOCUMENT_STATUS_PENDING]) {
      expectInvalid(await rejection(docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: bad }))), "status", /INDEXING, DOCUMENT_STATUS_INDEXED or/);
    }
    expectInvalid(await rejection(docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: id, status: DocumentStatus.DOCUMENT_STATUS_INDEXED, indexedVersion: "-3" }))), "indexed_version", /positive/);
    const missing = await rejection(docs.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: "9d3c6c1e-0000-4000-8000-000000000000", status: DocumentStatus.DOCUMENT_STATUS_INDEXED })));
    assert.equal(missing.code, status.NOT_FOUND);
  });
});
