import { AskRequest, type QueryServiceClient } from "#gen/rag/v1/query.js";
import type { PromiseClient } from "#mesh/client.js";
import { containsAnswer, passageIdOf, retrievalFigures, type Question, type RetrievalFigures } from "./eval.js";

export interface QualityFigures extends RetrievalFigures {
  /** Share of answers containing a gold answer string (SQuAD-normalised). */
  answer_contains: number;
}

/**
 * Asks every question over gRPC (`concurrency` at a time, `topK` sources each) and scores the sources
 * against the gold passages and the answers against the gold answer strings.
 */
export async function measureQuality(
  query: PromiseClient<typeof QueryServiceClient.service>,
  questions: Question[],
  opts: { concurrency: number; topK: number },
): Promise<QualityFigures> {
  const ranked: string[][] = new Array(questions.length);
  const answers: string[] = new Array(questions.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < questions.length) {
        const i = next++;
        const res = await query.ask(AskRequest.fromPartial({ question: questions[i]!.question, topK: opts.topK, options: { bypassCache: true } }));
        ranked[i] = res.sources.map((s) => passageIdOf(s.sourceUri) ?? s.documentId);
        answers[i] = res.answer;
      }
    }),
  );
  const figures = retrievalFigures(ranked, questions.map((q) => q.gold_ids));
  const hits = answers.filter((a, i) => containsAnswer(a, questions[i]!.answers)).length;
  return { ...figures, answer_contains: Math.round((hits / (questions.length || 1)) * 1000) / 1000 };
}
