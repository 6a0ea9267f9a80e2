import { readdir, readFile, stat } from "node:fs/promises";
import { basename, extname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { IngestionServiceClient, JobState, StartJobRequest, UploadedFile, type Job } from "#gen/rag/v1/ingestion.js";
import type { CliContext } from "./context.js";
import { ingestFiles, runJob } from "./ingest-jobs.js";
import { print, printJson, UsageError } from "./output.js";

export const INGEST_USAGE = `rag ingest <file|folder|url>... [--collection C] [--tag TAG]... [--max-pages N]`;

/** Formats the documents service parses; anything else in a folder is skipped, not failed. */
const INGESTIBLE = new Set([".txt", ".text", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"]);

export async function ingestCommand(ctx: CliContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { collection: { type: "string" }, tag: { type: "string", multiple: true }, "max-pages": { type: "string" } },
  });
  if (positionals.length === 0) throw new UsageError(`nothing to ingest\n${INGEST_USAGE}`);
  const urls = positionals.filter((p) => /^https?:\/\//i.test(p));
  const paths = positionals.filter((p) => !/^https?:\/\//i.test(p));
  const maxPages = values["max-pages"] === undefined ? 1 : Number(values["max-pages"]);
  if (!Number.isInteger(maxPages) || maxPages < 1) throw new UsageError("--max-pages must be a positive whole number");

  const { files, skipped } = await collectFiles(paths);
  for (const s of skipped) process.stderr.write(`skipping ${s}\n`);
  if (files.length === 0 && urls.length === 0) throw new UsageError("no ingestible files found (txt, md, html, pdf, docx)");

  const client = ctx.runtime.connect(IngestionServiceClient, "ingestion", { auth: ctx.auth, metadata: ctx.metadata, deadlineMs: 3_600_000 });
  const progress = new Progress(files.length + urls.length, ctx.json);
  const jobs: Job[] = [];
  try {
    if (files.length > 0) {
      jobs.push(...(await ingestFiles(client, files, { collection: values.collection, tags: values.tag }, (batch, job) => progress.update(`files#${batch}`, job))));
    }
    if (urls.length > 0) {
      const request = StartJobRequest.fromPartial({
        collection: values.collection ?? "",
        tags: values.tag ?? [],
        source: { kind: { $case: "webCrawl", value: { startUrls: urls, maxPages } } },
      });
      jobs.push(await runJob(client, request, (job) => progress.update("web", job)));
    }
  } finally {
    progress.stop();
    client.close();
  }
  if (ctx.json) printJson(jobs.map((j) => ({ jobId: j.jobId, state: JobState[j.state], progress: j.progress, qualityReport: j.qualityReport, itemErrors: j.itemErrors })));
  else summarise(jobs);
  return jobs.every((j) => j.state === JobState.JOB_STATE_SUCCEEDED) ? 0 : 1;
}

async function collectFiles(paths: string[]): Promise<{ files: UploadedFile[]; skipped: string[] }> {
  const files: UploadedFile[] = [];
  const skipped: string[] = [];
  const visit = async (path: string, explicit: boolean): Promise<void> => {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new UsageError(`cannot read ${path}: no such file or folder`);
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).sort()) if (!entry.startsWith(".")) await visit(join(path, entry), false);
      return;
    }
    if (!info.isFile()) return;
    // A file named explicitly is sent as is (the service says what is wrong with it); in folders only known formats.
    if (!explicit && !INGESTIBLE.has(extname(path).toLowerCase())) return void skipped.push(`${path} (not a txt, md, html, pdf or docx file)`);
    const content = await readFile(path);
    files.push(UploadedFile.fromPartial({ filename: basename(path), content, sourceUri: pathToFileURL(resolve(path)).href, sizeBytes: String(content.length) }));
  };
  for (const p of paths) await visit(p, true);
  return { files, skipped };
}

/** A progress bar on a terminal; one line per state change otherwise (logs, CI). */
class Progress {
  private readonly bar?: cliProgress.SingleBar;
  private readonly done = new Map<string, number>();
  private readonly chunks = new Map<string, number>();
  private readonly failed = new Map<string, number>();
  private readonly states = new Map<string, JobState>();

  constructor(private readonly total: number, private readonly quiet: boolean) {
    if (!quiet && process.stderr.isTTY) {
      this.bar = new cliProgress.SingleBar(
        { format: "ingesting [{bar}] {value}/{total} items | {chunks} chunks | {failed} failed", stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { chunks: 0, failed: 0 });
    }
  }

  update(key: string, job: Job): void {
    const p = job.progress;
    this.done.set(key, Number(p?.itemsProcessed ?? 0));
    this.chunks.set(key, Number(p?.chunksIndexed ?? 0));
    this.failed.set(key, Number(p?.itemsFailed ?? 0));
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    if (this.bar) {
      this.bar.setTotal(Math.max(this.total, sum(this.done)));
      this.bar.update(sum(this.done), { chunks: sum(this.chunks), failed: sum(this.failed) });
    } else if (!this.quiet && this.states.get(key) !== job.state) {
      process.stderr.write(`job ${job.jobId} ${JobState[job.state].replace("JOB_STATE_", "").toLowerCase()} (${sum(this.done)}/${this.total} items)\n`);
    }
    this.states.set(key, job.state);
  }
  stop(): void {
    this.bar?.stop();
  }
}

function summarise(jobs: Job[]): void {
  const total = (pick: (j: Job) => string | undefined) => jobs.reduce((n, j) => n + Number(pick(j) ?? 0), 0);
  print(
    `${total((j) => j.progress?.documentsCreated)} created, ${total((j) => j.progress?.documentsUpdated)} updated, ` +
      `${total((j) => j.progress?.itemsSkipped)} unchanged, ${total((j) => j.progress?.itemsFailed)} failed; ` +
      `${total((j) => j.progress?.chunksIndexed)} chunks indexed`,
  );
  for (const job of jobs) {
    if (job.state !== JobState.JOB_STATE_SUCCEEDED) print(`job ${job.jobId}: ${JobState[job.state].replace("JOB_STATE_", "").toLowerCase()}${job.error ? `: ${job.error}` : ""}`);
    for (const e of job.itemErrors) print(`  ${e.item}: ${e.message}`);
    for (const w of job.qualityReport?.warnings ?? []) print(`  warning: ${w}`);
  }
}
