import type { StageName } from "../convert.js";

/** One thing read from a source, ready for the pipeline. */
export interface SourceItem {
  /** How the item is named in errors and warnings: the filename or the URL. */
  item: string;
  /** The document's source_uri: the key that finds it again on the next ingestion. */
  sourceUri: string;
  filename: string;
  /** MIME type when the source says it; empty lets the documents service infer it from the filename. */
  contentType: string;
  title: string;
  content: Buffer;
  /** Connector metadata, merged over the job's. */
  metadata: Record<string, string>;
  /** When the content was last modified at the source, if it says. */
  documentTime?: Date;
}

export type ConnectorEvent =
  | { kind: "item"; item: SourceItem }
  /** The item was found but could not be read. */
  | { kind: "failed"; item: string; stage: StageName; message: string }
  /** The item was found and deliberately left out (robots.txt, unsupported type). */
  | { kind: "skipped"; item: string; reason: string }
  /** An observation about the source as a whole, for the quality report. */
  | { kind: "warning"; message: string };

/** A connector reads its source once; `signal` stops it early (cancel, shutdown). */
export type Connector = (signal: AbortSignal) => AsyncIterable<ConnectorEvent>;
