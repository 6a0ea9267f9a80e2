import { AskResponse, AskState, type GetAskResultResponse } from "#gen/rag/v1/query.js";
import type { Cache } from "#mesh/cache.js";
import { errorFields, log } from "#mesh/logger.js";

export type AskStateName = "pending" | "running" | "succeeded" | "failed";

/** A submitted ask as stored in the cache (JSON), so whichever replica is asked can answer GetAskResult. */
export interface AskRecord {
  id: string;
  question: string;
  state: AskStateName;
  /** Epoch ms. */
  createTime: number;
  /** Epoch ms by which the ask is answered or failed; past it (plus a grace) a live record means its replica died. */
  deadline: number;
  completeTime?: number;
  /** AskResponse, protobuf binary in base64; set when succeeded. */
  result?: string;
  errorCode?: string;
  errorMessage?: string;
}

/** Slack past an ask's deadline before a record still pending or running is reported as abandoned. */
const ABANDON_GRACE_MS = 10_000;

const STATES: Record<AskStateName, AskState> = {
  pending: AskState.ASK_STATE_PENDING,
  running: AskState.ASK_STATE_RUNNING,
  succeeded: AskState.ASK_STATE_SUCCEEDED,
  failed: AskState.ASK_STATE_FAILED,
};

/**
 * Ask records keyed by tenant and ask id: another tenant's id is simply a different key, so it reads as
 * not found rather than forbidden (no way to learn that someone else's ask exists). A finished ask is kept
 * for `ttlMs` after it completes; one still pending or running is kept at least until it could be reported
 * abandoned, and `ttlMs` beyond, so a short TTL never loses an ask that is still being worked on.
 */
export class AskRecords {
  constructor(
    private readonly cache: Cache,
    private readonly ttlMs: number,
  ) {}

  async put(tenant: string, record: AskRecord): Promise<void> {
    const ttlMs = isLive(record) ? Math.max(0, record.deadline + ABANDON_GRACE_MS - Date.now()) + this.ttlMs : this.ttlMs;
    await this.cache.set(key(tenant, record.id), JSON.stringify(record), ttlMs);
  }

  async get(tenant: string, id: string): Promise<AskRecord | undefined> {
    const raw = await this.cache.get(key(tenant, id));
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as AskRecord;
    } catch (err) {
      log.warn("unreadable ask record", { ask_id: id, ...errorFields(err) });
      return undefined;
    }
  }
}

function isLive(record: AskRecord): boolean {
  return record.state === "pending" || record.state === "running";
}

function key(tenant: string, id: string): string {
  return `ask:v1:${tenant}:${id}`;
}

export function askResultResponse(record: AskRecord, now = Date.now()): GetAskResultResponse {
  const view: AskRecord =
    isLive(record) && now > record.deadline + ABANDON_GRACE_MS
      ? {
          ...record,
          state: "failed",
          errorCode: "DEADLINE_EXCEEDED",
          errorMessage: "the ask was abandoned: the query replica running it stopped before it finished; submit it again",
        }
      : record;
  return {
    askId: view.id,
    state: STATES[view.state],
    result: view.state === "succeeded" && view.result ? AskResponse.decode(Buffer.from(view.result, "base64")) : undefined,
    errorCode: view.state === "failed" ? (view.errorCode ?? "UNKNOWN") : "",
    errorMessage: view.state === "failed" ? (view.errorMessage ?? "") : "",
    question: view.question,
    createTime: new Date(view.createTime),
    completeTime: view.completeTime === undefined ? undefined : new Date(view.completeTime),
  };
}
