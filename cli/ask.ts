import { parseArgs } from "node:util";
import { AskRequest, AskResponse, AskStreamRequest, QueryServiceClient, type AskSource } from "#gen/rag/v1/query.js";
import type { Citation } from "#gen/rag/v1/generation.js";
import type { CliContext } from "./context.js";
import { print, printJson, UsageError } from "./output.js";

export const ASK_USAGE = `rag ask "QUESTION" [--collection C] [--top-k N] [--tag TAG]... [--doc ID]... [--no-stream] [--no-cache]`;

export async function askCommand(ctx: CliContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      collection: { type: "string" },
      "top-k": { type: "string" },
      tag: { type: "string", multiple: true },
      doc: { type: "string", multiple: true },
      "no-stream": { type: "boolean" },
      "no-cache": { type: "boolean" },
    },
  });
  const question = positionals.join(" ").trim();
  if (!question) throw new UsageError(`no question\n${ASK_USAGE}`);
  const topK = values["top-k"] === undefined ? 0 : Number(values["top-k"]);
  if (!Number.isInteger(topK) || topK < 0) throw new UsageError("--top-k must be a whole number");
  const request = {
    question,
    collection: values.collection ?? "",
    topK,
    filter: values.tag || values.doc ? { documentIds: values.doc ?? [], tags: values.tag ?? [] } : undefined,
    options: { bypassCache: values["no-cache"] ?? false },
  };
  const query = ctx.runtime.connect(QueryServiceClient, "query", { auth: ctx.auth, metadata: ctx.metadata, deadlineMs: 120_000 });
  try {
    if (ctx.json || values["no-stream"]) {
      const res = await query.ask(AskRequest.fromPartial(request));
      if (ctx.json) {
        printJson(AskResponse.toJSON(res));
        return 0;
      }
      print(res.answer);
      printSources(res.sources, res.citations);
      return 0;
    }
    let sources: AskSource[] = [];
    const citations: Citation[] = [];
    for await (const event of query.askStream(AskStreamRequest.fromPartial(request))) {
      const e = event.event;
      if (!e) continue;
      if (e.$case === "sources") sources = e.value.sources;
      else if (e.$case === "answerDelta") process.stdout.write(e.value);
      else if (e.$case === "citation") citations.push(e.value);
    }
    process.stdout.write("\n");
    printSources(sources, citations);
    return 0;
  } finally {
    query.close();
  }
}

/** Sources the answer cites first (by marker), then the rest that were retrieved. */
function printSources(sources: AskSource[], citations: Citation[]): void {
  if (sources.length === 0) return;
  const cited = new Set(citations.map((c) => c.marker));
  print("\nSources:");
  const ordered = [...sources].sort((a, b) => Number(cited.has(b.number)) - Number(cited.has(a.number)) || a.number - b.number);
  for (const s of ordered) {
    const where = s.sourceUri || s.documentId;
    print(`  [${s.number}]${cited.has(s.number) ? "*" : " "} ${s.title || "(untitled)"} — ${where}  (score ${s.score.toFixed(3)})`);
  }
  if (cited.size > 0) print("  * cited in the answer");
}
