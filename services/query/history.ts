import type { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import type { AskResponse, AskStreamResponse } from "#gen/rag/v1/query.js";
import type { PromiseClient } from "#mesh/client.js";
import type { CallContext } from "#mesh/context.js";
import { log } from "#mesh/logger.js";

const RECORD_TIMEOUT_MS = 5_000;
const MAX_IN_FLIGHT = 64;

type Identity = Pick<PromiseClient<typeof IdentityServiceClient.service>, "recordQuery">;

/**
 * Writes each answered ask to its user's history in identity (RecordQuery). Best effort: an ask never
 * waits for, or fails because of, its history entry; a failure is logged (at most once a minute).
 * Asks made by a service with no user behind them have no history to go to.
 */
export class QueryHistory {
  private inFlight = 0;
  private lastWarning = 0;

  constructor(private readonly identity: Identity) {}

  record(ctx: CallContext, collection: string, question: string, answer: Pick<AskResponse, "answer" | "answered" | "cached" | "model" | "citations">, totalMs: number): void {
    if (!ctx.tenantId || !ctx.callerId || ctx.principal?.kind === "service") return;
    if (this.inFlight >= MAX_IN_FLIGHT) return this.warn("too many history writes in flight; entry dropped");
    this.inFlight++;
    this.identity
      .recordQuery(
        {
          question,
          collection,
          answer: answer.answer,
          answered: answer.answered,
          cached: answer.cached,
          citedDocumentIds: [...new Set(answer.citations.map((c) => c.documentId))],
          model: answer.model,
          totalMs,
        },
        // The ask may already be answered and its call closed: the write gets its own budget.
        { deadlineMs: RECORD_TIMEOUT_MS, signal: AbortSignal.timeout(RECORD_TIMEOUT_MS) },
      )
      .catch((err: Error & { details?: string }) => this.warn(err.details ?? err.message))
      .finally(() => this.inFlight--);
  }

  /** Passes a stream through, recording the answer it assembled once it is done. */
  async *recording(ctx: CallContext, collection: string, question: string, events: AsyncIterable<AskStreamResponse>): AsyncGenerator<AskStreamResponse> {
    const started = performance.now();
    let answer = "";
    const citations: AskResponse["citations"] = [];
    for await (const message of events) {
      const e = message.event;
      if (e?.$case === "answerDelta") answer += e.value;
      else if (e?.$case === "citation") citations.push(e.value);
      else if (e?.$case === "done") {
        const done = e.value;
        this.record(ctx, done.collection || collection, question, { answer, answered: done.answered, cached: done.cached, model: done.model, citations }, performance.now() - started);
      }
      yield message;
    }
  }

  private warn(error: string): void {
    if (Date.now() - this.lastWarning < 60_000) return;
    this.lastWarning = Date.now();
    log.warn("could not record an ask in the user's history (best effort)", { error });
  }
}
