import { StartJobRequest, type Job } from "#gen/rag/v1/ingestion.js";
import { runJob, type IngestionClient } from "../cli/ingest-jobs.js";

/** `files` (name → text) as one ingestion job into the default collection, followed (as bin/rag does) until it ends. */
export function ingestTexts(ingestion: IngestionClient, files: Record<string, string>): Promise<Job> {
  const request = StartJobRequest.fromPartial({
    collection: "",
    source: { kind: { $case: "files", value: { files: Object.entries(files).map(([filename, text]) => ({ filename, content: Buffer.from(text) })) } } },
  });
  return runJob(ingestion, request, () => {});
}
