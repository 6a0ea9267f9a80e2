import { Metadata, Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import {
  DocumentsServiceService,
  DocumentStatus,
  type CreateDocumentRequest,
  type DeleteDocumentRequest,
  type Document,
  type GetDocumentRequest,
  type ListDocumentsRequest,
  type UpdateDocumentRequest,
} from "#gen/rag/v1/documents.js";
import { IngestionServiceService, JobEventType, JobState, WatchJobResponse, type WatchJobRequest } from "#gen/rag/v1/ingestion.js";
import { QueryServiceService, AskStreamResponse, type AskStreamRequest } from "#gen/rag/v1/query.js";
import { InvalidArgumentError, NotFoundError, UnavailableError, toServiceError } from "#mesh/errors.js";
import { echoServiceDefinition } from "./echo-descriptor.js";

/**
 * A raw grpc-js server with small in-memory behaviour behind the gateway tests: documents CRUD, a job
 * watch stream, an answer stream, the echo service and grpc.health.v1. It records what reached it (request
 * messages, metadata, cancellations) so tests can check what the gateway sent upstream.
 */
export interface FakeUpstream {
  address: string;
  /** Metadata of every call, in arrival order. */
  metadata: Metadata[];
  lastListRequest?: ListDocumentsRequest;
  /** Resolves when the upstream sees the watch of job "forever" cancelled. */
  foreverCancelled: Promise<void>;
  stop(): Promise<void>;
}

export const CREATED_AT = new Date("2024-05-01T12:00:00.250Z");
/** Above 2^53, so it only survives the trip as a string. */
export const BIG_SIZE = "9007199254740993";

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const documents = new Map<string, Document>();
  let nextId = 1;
  let cancelled!: () => void;
  const fake: FakeUpstream = {
    address: "",
    metadata: [],
    foreverCancelled: new Promise<void>((resolve) => (cancelled = resolve)),
    stop: async () => {},
  };
  const seen = (call: { metadata: Metadata }) => fake.metadata.push(call.metadata);
  const fail = (callback: sendUnaryData<unknown>, err: unknown) => callback(toServiceError(err));

  const server = new Server();
  server.addService(DocumentsServiceService, {
    createDocument(call: ServerUnaryCall<CreateDocumentRequest, unknown>, callback: sendUnaryData<unknown>) {
      seen(call);
      const r = call.request;
      if (!r.title) return fail(callback, new InvalidArgumentError("title", "is required"));
      const document: Document = {
        documentId: `doc-${nextId++}`,
        tenantId: String(call.metadata.get("x-tenant-id")[0] ?? ""),
        collection: r.collection || "default",
        title: r.title,
        filename: r.filename,
        contentType: r.contentType || "text/plain",
        sourceUri: r.sourceUri,
        tags: r.tags,
        metadata: r.metadata,
        contentHash: "",
        sizeBytes: BIG_SIZE,
        chunkCount: 1,
        status: DocumentStatus.DOCUMENT_STATUS_PENDING,
        statusMessage: "",
        text: "",
        textLength: r.text.length,
        createTime: CREATED_AT,
        updateTime: CREATED_AT,
        indexTime: undefined,
        version: "1",
      };
      documents.set(document.documentId, document);
      callback(null, { document, duplicate: false });
    },
    getDocument(call: ServerUnaryCall<GetDocumentRequest, unknown>, callback: sendUnaryData<unknown>) {
      seen(call);
      const document = documents.get(call.request.documentId);
      if (!document) return fail(callback, new NotFoundError("document", call.request.documentId));
      callback(null, { document });
    },
    listDocuments(call: ServerUnaryCall<ListDocumentsRequest, unknown>, callback: sendUnaryData<unknown>) {
      seen(call);
      fake.lastListRequest = call.request;
      const r = call.request;
      const matching = [...documents.values()].filter((d) => (!r.collection || d.collection === r.collection) && (!r.status || d.status === r.status));
      callback(null, { documents: matching.slice(0, r.pageSize || 50), nextPageToken: "" });
    },
    updateDocument(call: ServerUnaryCall<UpdateDocumentRequest, unknown>, callback: sendUnaryData<unknown>) {
      seen(call);
      const document = documents.get(call.request.documentId);
      if (!document) return fail(callback, new NotFoundError("document", call.request.documentId));
      if (call.request.title) document.title = call.request.title;
      if (call.request.tags.length > 0) document.tags = call.request.tags;
      document.version = String(Number(document.version) + 1);
      callback(null, { document });
    },
    deleteDocument(call: ServerUnaryCall<DeleteDocumentRequest, unknown>, callback: sendUnaryData<unknown>) {
      seen(call);
      const document = documents.get(call.request.documentId);
      if (!document) return fail(callback, new NotFoundError("document", call.request.documentId));
      documents.delete(document.documentId);
      callback(null, { deletedChunkCount: document.chunkCount });
    },
  });

  server.addService(IngestionServiceService, {
    watchJob(call: ServerWritableStream<WatchJobRequest, WatchJobResponse>) {
      seen(call);
      const jobId = call.request.jobId;
      // Sequences as the real service numbers its events (jobs.event_seq), not from 1.
      const event = (state: JobState, eventType: JobEventType, sequence: string) =>
        WatchJobResponse.fromPartial({ eventType, sequence, job: { jobId, state, progress: { itemsDiscovered: "12", itemsProcessed: "3" }, createTime: CREATED_AT } });
      if (jobId === "missing") {
        call.emit("error", toServiceError(new NotFoundError("job", jobId)));
        return;
      }
      call.write(event(JobState.JOB_STATE_RUNNING, JobEventType.JOB_EVENT_TYPE_SNAPSHOT, "7"));
      if (jobId === "forever") {
        call.on("cancelled", () => cancelled());
        return;
      }
      if (jobId === "flaky") {
        call.emit("error", toServiceError(new UnavailableError("job store went away")));
        return;
      }
      call.write(event(JobState.JOB_STATE_SUCCEEDED, JobEventType.JOB_EVENT_TYPE_STATE_CHANGED, "9"));
      call.end();
    },
  });

  server.addService(QueryServiceService, {
    askStream(call: ServerWritableStream<AskStreamRequest, AskStreamResponse>) {
      seen(call);
      // Answers by spelling the question back word by word, so the test can see the request arrived whole.
      for (const word of call.request.question.split(" ")) {
        call.write(AskStreamResponse.fromPartial({ event: { $case: "answerDelta", value: `${word} ` } }));
      }
      call.write(AskStreamResponse.fromPartial({ event: { $case: "done", value: { answered: true, collection: call.request.collection || "default" } } }));
      call.end();
    },
  });

  server.addService(echoServiceDefinition, {
    echo(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
      seen(call);
      callback(null, call.request);
    },
  });

  new HealthImplementation({ "": "SERVING" }).addToServer(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  fake.address = `127.0.0.1:${port}`;
  fake.stop = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  return fake;
}
