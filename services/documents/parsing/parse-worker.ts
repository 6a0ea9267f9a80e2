import { parse, type ParseLimits } from "./index.js";
import { serveJobs } from "./worker-host.js";

/* A parse worker (see isolated.ts): one file at a time, under the pool's memory and time limits. */

export interface ParseJob {
  /** Text as sent, or the file's bytes (transferred, not copied). */
  body: string | Uint8Array;
  contentType: string;
  filename: string;
  limits: ParseLimits;
}

serveJobs(async (payload) => {
  const job = payload as ParseJob;
  const body = typeof job.body === "string" ? job.body : Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
  return { value: await parse(body, job.contentType, job.filename, undefined, job.limits) };
});
