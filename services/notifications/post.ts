import { requestPinned, resolveChecked, type EgressPolicy } from "#mesh/egress.js";

export interface PostResult {
  /** 0 when no response was received. */
  status: number;
  /** The start of the response body, for the delivery log. */
  bodyStart: string;
}

const BODY_KEPT = 200;
/** Bytes of a response read at most: enough for the log, and a slow endless body cannot hold the attempt. */
const BODY_READ = 4096;

/**
 * POSTs `body` once, within `timeoutMs` for the whole exchange; no redirects (a webhook that moved must be
 * re-subscribed). Rejects on connection errors, timeouts and refused internal addresses (EgressRefusedError);
 * the connection goes only to the addresses that were checked.
 */
export async function postOnce(target: string, body: string, headers: Record<string, string>, opts: { timeoutMs: number; allowPrivate: boolean; signal: AbortSignal }): Promise<PostResult> {
  const url = new URL(target);
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]);
  const failure = (err: unknown) => (signal.aborted && !opts.signal.aborted ? new Error(`timed out after ${opts.timeoutMs} ms`) : err);
  const policy: EgressPolicy = { allowPrivate: opts.allowPrivate, refusal: "deliveries there are refused (NOTIFICATIONS_ALLOW_PRIVATE)" };
  const checked = await resolveChecked(url, policy, signal).catch((err: unknown) => {
    throw failure(err);
  });
  return new Promise<PostResult>((resolve, reject) => {
    const req = requestPinned(
      url,
      checked,
      { method: "POST", headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, signal },
      (res) => {
        const chunks: Buffer[] = [];
        let read = 0;
        const done = () => resolve({ status: res.statusCode ?? 0, bodyStart: Buffer.concat(chunks).toString("utf8").slice(0, BODY_KEPT) });
        res.on("data", (chunk: Buffer) => {
          if (read < BODY_READ) chunks.push(chunk.subarray(0, BODY_READ - read));
          read += chunk.length;
          if (read >= BODY_READ) {
            res.destroy();
            done();
          }
        });
        res.on("end", done);
        res.on("error", () => done());
      },
    );
    req.on("error", (err) => reject(failure(err)));
    req.end(body);
  });
}
