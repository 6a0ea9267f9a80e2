import { parse, type ParseLimits } from "./index.js";
import { serveJobs } from "./worker-host.js";

/* A parse worker process (see isolated.ts): one file at a time, under the pool's memory and time limits. */

export interface ParseJob {
  /** Text as sent, or the file's bytes. */
  body: string | Buffer;
  contentType: string;
  filename: string;
  limits: ParseLimits;
}

serveJobs(async (payload) => {
  const job = payload as ParseJob;
  // Arrives as a Uint8Array or a Buffer depending on the serializer: a Buffer view either way, no copy.
  const body = typeof job.body === "string" ? job.body : Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
  return parse(body, job.contentType, job.filename, undefined, job.limits);
});
