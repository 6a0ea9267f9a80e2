import { IngestionMode, JobSource, type StartJobRequest, type UploadedFile, type WebCrawlSource } from "#gen/rag/v1/ingestion.js";
import { InvalidArgumentError, UnimplementedError } from "#mesh/errors.js";
import { collectionName, documentMetadata, documentTags, notLongerThan } from "#mesh/rules.js";
import type { NewJob, QualitySettings } from "./store.js";

export interface StartLimits {
  maxFiles: number;
  maxFileBytes: number;
  maxJobBytes: number;
}

/** A validated StartJob: what is stored (redacted) and what the runner needs (the source with its bytes). */
export interface JobSpec extends NewJob {
  /** The source as given, file bytes included; held in memory only. */
  fullSource: JobSource;
  /** Bytes of uploaded files, held in memory until the job ends. */
  uploadBytes: number;
}

export const DEFAULT_MIN_TEXT_LENGTH = 20;
export const WEB_DEFAULTS = { maxPages: 100, maxPagesLimit: 10_000, maxDepth: 2, startUrls: 100 };

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/;
const LIMITS = { displayName: 200, requestId: 128, filename: 255, title: 1000, uri: 2048 };

export function validateStartJob(req: StartJobRequest, limits: StartLimits): JobSpec {
  const collection = collectionName(req.collection);
  notLongerThan("display_name", req.displayName, LIMITS.displayName);
  notLongerThan("request_id", req.requestId, LIMITS.requestId);
  const tags = documentTags(req.tags);
  const metadata = documentMetadata("metadata", req.metadata);
  const qualityOptions = validQuality(req);

  const kind = req.source?.kind;
  if (!kind) throw new InvalidArgumentError("source", "required: set exactly one connector (files, web_crawl, sql or http_api)");
  const streaming = req.mode === IngestionMode.INGESTION_MODE_STREAMING;
  if (streaming && kind.$case === "files") throw new InvalidArgumentError("mode", "streaming mode is not allowed for the files connector");
  if (!streaming && req.pollIntervalSeconds !== 0) throw new InvalidArgumentError("poll_interval_seconds", "must be 0 in batch mode");

  let uploadBytes = 0;
  let stored: JobSource;
  switch (kind.$case) {
    case "files":
      uploadBytes = validFiles(kind.value.files, limits);
      stored = { kind: { $case: "files", value: { files: kind.value.files.map(withoutBytes) } } };
      break;
    case "webCrawl":
      validWebCrawl(kind.value);
      stored = { kind };
      break;
    case "sql":
      // Declared in the contract for a later release: refused as a choice this release does not offer (a 400,
      // not a 501, so a well-formed request never gets a server error).
      throw new InvalidArgumentError("source.sql", "the SQL connector is not available in this release; use files or web_crawl");
    case "httpApi":
      throw new InvalidArgumentError("source.http_api", "the HTTP/JSON API connector is not available in this release; use files or web_crawl");
  }
  // Streaming re-reads a source on a schedule; this release runs batch jobs only.
  if (streaming) throw new UnimplementedError("streaming mode (mode = INGESTION_MODE_STREAMING)");

  return {
    collection,
    displayName: req.displayName,
    source: JobSource.toJSON(stored),
    fullSource: req.source!,
    mode: "BATCH",
    pollIntervalSeconds: 0,
    tags,
    metadata,
    qualityOptions,
    requestId: req.requestId,
    uploadBytes,
  };
}

function validQuality(req: StartJobRequest): QualitySettings {
  const min = req.qualityOptions?.minTextLength ?? 0;
  if (min < 0) throw new InvalidArgumentError("quality_options.min_text_length", "must not be negative");
  return { minTextLength: min === 0 ? DEFAULT_MIN_TEXT_LENGTH : min, keepDuplicates: req.qualityOptions?.keepDuplicates ?? false };
}

function validFiles(files: UploadedFile[], limits: StartLimits): number {
  const field = "source.files.files";
  if (files.length === 0) throw new InvalidArgumentError(field, "at least one file is required");
  if (files.length > limits.maxFiles) throw new InvalidArgumentError(field, `at most ${limits.maxFiles} files per job, got ${files.length}; split them over several jobs`);
  let total = 0;
  const uris = new Map<string, number>();
  files.forEach((f, i) => {
    const at = `${field}[${i}]`;
    const name = f.filename.trim();
    if (name === "") throw new InvalidArgumentError(`${at}.filename`, "required (it names the item and implies the content type)");
    notLongerThan(`${at}.filename`, name, LIMITS.filename);
    if (f.content.length > limits.maxFileBytes) {
      throw new InvalidArgumentError(`${at}.content`, `${JSON.stringify(name)} is ${f.content.length} bytes, over the limit of ${limits.maxFileBytes} bytes per file`);
    }
    notLongerThan(`${at}.title`, f.title, LIMITS.title);
    notLongerThan(`${at}.source_uri`, f.sourceUri, LIMITS.uri);
    documentMetadata(`${at}.metadata`, f.metadata);
    const uri = fileSourceUri(f);
    const earlier = uris.get(uri);
    if (earlier !== undefined) throw new InvalidArgumentError(`${at}.source_uri`, `${JSON.stringify(uri)} is also the source of files[${earlier}]; each file of a job needs its own`);
    uris.set(uri, i);
    total += f.content.length;
  });
  if (total > limits.maxJobBytes) throw new InvalidArgumentError(field, `the files total ${total} bytes, over the limit of ${limits.maxJobBytes} bytes per job; split them over several jobs`);
  return total;
}

/** The document's source URI for an uploaded file: the given one, or `upload://<filename>`. */
export function fileSourceUri(f: Pick<UploadedFile, "sourceUri" | "filename">): string {
  return f.sourceUri.trim() || `upload://${f.filename.trim()}`;
}

function withoutBytes(f: UploadedFile): UploadedFile {
  return { ...f, content: Buffer.alloc(0), sizeBytes: String(f.content.length) };
}

function validWebCrawl(w: WebCrawlSource): void {
  const field = "source.web_crawl";
  if (w.startUrls.length === 0) throw new InvalidArgumentError(`${field}.start_urls`, "at least one start URL is required");
  if (w.startUrls.length > WEB_DEFAULTS.startUrls) throw new InvalidArgumentError(`${field}.start_urls`, `at most ${WEB_DEFAULTS.startUrls} start URLs, got ${w.startUrls.length}`);
  w.startUrls.forEach((raw, i) => {
    const at = `${field}.start_urls[${i}]`;
    notLongerThan(at, raw, LIMITS.uri);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new InvalidArgumentError(at, `${JSON.stringify(raw)} is not an absolute URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError(at, `only http and https URLs can be crawled, got ${url.protocol}`);
    if (url.username || url.password) throw new InvalidArgumentError(at, "URLs with credentials are not accepted");
  });
  if (w.maxPages < 0) throw new InvalidArgumentError(`${field}.max_pages`, "must not be negative");
  if (w.maxPages > WEB_DEFAULTS.maxPagesLimit) throw new InvalidArgumentError(`${field}.max_pages`, `at most ${WEB_DEFAULTS.maxPagesLimit}`);
  if (w.maxDepth !== undefined && w.maxDepth < 0) throw new InvalidArgumentError(`${field}.max_depth`, "must not be negative");
  w.allowedDomains.forEach((d, i) => {
    if (!HOSTNAME.test(d.trim().toLowerCase())) throw new InvalidArgumentError(`${field}.allowed_domains[${i}]`, `${JSON.stringify(d)} is not a host name`);
  });
}
