import type { FilesSource } from "#gen/rag/v1/ingestion.js";
import { fileSourceUri } from "../validate.js";
import type { Connector } from "./types.js";

/** Files uploaded with the StartJob request, in request order. */
export function filesConnector(source: FilesSource): Connector {
  return async function* (signal) {
    for (const f of source.files) {
      if (signal.aborted) return;
      const filename = f.filename.trim();
      yield {
        kind: "item",
        item: {
          item: filename,
          sourceUri: fileSourceUri(f),
          filename,
          contentType: f.contentType,
          title: f.title.trim(),
          content: f.content,
          metadata: f.metadata,
        },
      };
    }
  };
}
