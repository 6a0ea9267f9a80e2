import type { JobSource } from "#gen/rag/v1/ingestion.js";
import { filesConnector } from "./files.js";
import type { FetchLimits } from "./fetch.js";
import type { Connector } from "./types.js";
import { webCrawlConnector } from "./web.js";

/** The connector of a validated source (validation has refused the kinds this release does not run). */
export function openConnector(source: JobSource, web: FetchLimits): Connector {
  const kind = source.kind;
  switch (kind?.$case) {
    case "files":
      return filesConnector(kind.value);
    case "webCrawl":
      return webCrawlConnector(kind.value, web);
    default:
      throw new Error(`no connector for source ${kind?.$case ?? "(none)"}`);
  }
}
