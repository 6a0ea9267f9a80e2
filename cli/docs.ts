import { readFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  CreateDocumentRequest,
  DeleteDocumentRequest,
  Document,
  DocumentStatus,
  DocumentsServiceClient,
  GetDocumentRequest,
  ListDocumentsRequest,
  UpdateDocumentRequest,
} from "#gen/rag/v1/documents.js";
import type { CliContext } from "./context.js";
import { print, printJson, printTable, UsageError } from "./output.js";

export const DOCS_USAGE = `rag docs create (--file PATH | --text TEXT) [--title T] [--tag TAG]... [--meta KEY=VALUE]... [--collection C] [--source-uri URI]
rag docs get ID [--text]
rag docs list [--collection C] [--tag TAG] [--limit N]
rag docs update ID [--title T] [--file PATH | --text TEXT] [--tag TAG]... [--meta KEY=VALUE]... [--source-uri URI]
rag docs delete ID`;

const bodyOptions = {
  file: { type: "string" },
  text: { type: "string" },
  title: { type: "string" },
  tag: { type: "string", multiple: true },
  meta: { type: "string", multiple: true },
  "source-uri": { type: "string" },
} as const;

export async function docsCommand(ctx: CliContext, args: string[]): Promise<void> {
  const [verb, ...rest] = args;
  const docs = ctx.runtime.connect(DocumentsServiceClient, "documents", { auth: ctx.auth, metadata: ctx.metadata });
  try {
    switch (verb) {
      case "create": {
        const { values } = parseArgs({ args: rest, options: { ...bodyOptions, collection: { type: "string" } } });
        if (!values.file && values.text === undefined) throw new UsageError("docs create needs --file PATH or --text TEXT");
        const body = await readBody(values.file, values.text);
        const { document, duplicate } = await docs.createDocument(
          CreateDocumentRequest.fromPartial({
            ...body,
            title: values.title ?? "",
            tags: values.tag ?? [],
            metadata: parseMeta(values.meta),
            collection: values.collection ?? "",
            sourceUri: values["source-uri"] ?? (values.file ? pathToFileURL(resolve(values.file)).href : ""),
          }),
        );
        return show(ctx, document!, duplicate ? "already stored (same content)" : "created");
      }
      case "get": {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { text: { type: "boolean" } } });
        const { document } = await docs.getDocument(GetDocumentRequest.fromPartial({ documentId: one(positionals), includeText: values.text ?? false }));
        return show(ctx, document!);
      }
      case "list": {
        const { values } = parseArgs({ args: rest, options: { collection: { type: "string" }, tag: { type: "string" }, limit: { type: "string" } } });
        const limit = values.limit === undefined ? 50 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError("--limit must be a positive whole number");
        const found: Document[] = [];
        let pageToken = "";
        do {
          const page = await docs.listDocuments(ListDocumentsRequest.fromPartial({ collection: values.collection ?? "", tag: values.tag ?? "", pageSize: Math.min(limit - found.length, 1000), pageToken }));
          found.push(...page.documents);
          pageToken = page.nextPageToken;
        } while (pageToken && found.length < limit);
        if (ctx.json) return printJson(found.map((d) => Document.toJSON(d)));
        if (found.length === 0) return print("no documents");
        return printTable(
          ["ID", "TITLE", "COLLECTION", "STATUS", "SIZE", "UPDATED"],
          found.map((d) => [d.documentId, clip(d.title, 40), d.collection, statusName(d.status), d.sizeBytes, d.updateTime?.toISOString() ?? ""]),
        );
      }
      case "update": {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: bodyOptions });
        const body = values.file || values.text !== undefined ? await readBody(values.file, values.text) : {};
        const { document } = await docs.updateDocument(
          UpdateDocumentRequest.fromPartial({
            documentId: one(positionals),
            ...body,
            title: values.title ?? "",
            tags: values.tag ?? [],
            metadata: parseMeta(values.meta),
            sourceUri: values["source-uri"] ?? "",
          }),
        );
        return show(ctx, document!, "updated");
      }
      case "delete": {
        const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
        const id = one(positionals);
        const res = await docs.deleteDocument(DeleteDocumentRequest.fromPartial({ documentId: id }));
        return ctx.json ? printJson({ documentId: id, deletedChunkCount: res.deletedChunkCount }) : print(`deleted ${id}`);
      }
      default:
        throw new UsageError(`unknown docs command ${JSON.stringify(verb ?? "")}\n${DOCS_USAGE}`);
    }
  } finally {
    docs.close();
  }
}

async function readBody(file: string | undefined, text: string | undefined): Promise<{ text?: string; content?: Buffer; filename?: string }> {
  if (file && text !== undefined) throw new UsageError("give --file or --text, not both");
  if (text !== undefined) return { text };
  const content = await readFile(file!).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${file}: ${err.code === "ENOENT" ? "no such file" : err.message}`);
  });
  return { content, filename: basename(file!) };
}

function parseMeta(pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--meta expects KEY=VALUE, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function one(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError("expected exactly one document id");
  return positionals[0]!;
}

function statusName(s: DocumentStatus): string {
  return (DocumentStatus[s] ?? "UNKNOWN").replace("DOCUMENT_STATUS_", "").toLowerCase();
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function show(ctx: CliContext, d: Document, verb?: string): void {
  if (ctx.json) return printJson(Document.toJSON(d));
  if (verb) print(`${verb} ${d.documentId}`);
  const rows: [string, string][] = [
    ["id", d.documentId],
    ["title", d.title],
    ["collection", d.collection],
    ["type", d.contentType],
    ["status", statusName(d.status)],
    ["size", `${d.sizeBytes} bytes`],
    ["version", d.version],
    ["hash", d.contentHash],
    ["source", d.sourceUri],
    ["tags", d.tags.join(", ")],
    ["metadata", Object.entries(d.metadata).map(([k, v]) => `${k}=${v}`).join(", ")],
    ["created", d.createTime?.toISOString() ?? ""],
    ["updated", d.updateTime?.toISOString() ?? ""],
  ];
  for (const [k, v] of rows) if (v) print(`${k.padEnd(10)} ${v}`);
  if (d.text) print(`\n${d.text}`);
}
