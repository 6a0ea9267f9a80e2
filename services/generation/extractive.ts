import { FinishReason, type Citation } from "#gen/rag/v1/generation.js";
import { InvalidArgumentError } from "#mesh/errors.js";
import { NO_ANSWER, usage, type GenerationInput, type NumberedPassage, type Provider, type TemplateName } from "./provider.js";
import { answerType, DEFAULT_WEIGHTS, isPolar, rankSentences, type AnswerType, type RankedSentence, type RankWeights } from "./sentence-rank.js";
import { codePointOffset, cutToTokens, estimateTokens } from "./text.js";

export const EXTRACTIVE_MODEL = "extractive-v1";

export interface ExtractiveOptions {
  /** Most sentences quoted in one answer. */
  maxSentences: number;
  /** Upper bound on the answer's estimated tokens; the last sentence is cut at a word to fit. */
  maxTokens: number;
  /** Below this IDF-weighted share of the question's terms, the best sentence does not answer it. */
  minCoverage: number;
  /**
   * An answer, with its passage's title, must cover at least this share of what the best restatement of
   * the question in the passages covers (a sentence that repeats the question, see bearsAnswer).
   */
  restatedShare: number;
  /** A further sentence is quoted only when it scores at least this share of the best one. */
  followScore: number;
  weights: RankWeights;
}

export const DEFAULT_EXTRACTIVE: ExtractiveOptions = {
  maxSentences: 2,
  maxTokens: 512,
  minCoverage: 0.17,
  restatedShare: 0.6,
  followScore: 0.8,
  weights: DEFAULT_WEIGHTS,
};

/** Sentences per answer for each prompt template: the extractive form of "concise" and "detailed". */
const SENTENCES_BY_TEMPLATE: Record<TemplateName, number> = { concise: 1, default: 2, detailed: 3 };

export interface ExtractiveAnswer {
  answer: string;
  citations: Citation[];
  answered: boolean;
  /** True when the token limit cut the answer short. */
  truncated: boolean;
}

/** A run of consecutive sentences of one passage, quoted as one piece. */
interface Quote {
  passage: number;
  first: number;
  last: number;
  start: number;
  end: number;
}

/**
 * Whether a sentence can carry an answer rather than restate the question. The sentence that matches a
 * question best is often the one that repeats it: an FAQ's heading "How do I reset my password?", or
 * "This page explains how to reset your password". Such a sentence is no answer, however well it matches.
 * An answer is not itself a question and adds content words of its own. When the question asks how many
 * or when, a sentence adding a single word must add a number or a date ("The opening hours are listed
 * below" does not say when the office opens). Names and places are not held to this: their cue, a capital
 * letter, misses too many real answers ("BSkyB has design authority …", "… done in committee").
 */
export function bearsAnswer(sentence: RankedSentence, expected: AnswerType, polar = false): boolean {
  if (sentence.asks) return false;
  // A yes/no question is answered by a plain statement of its fact, not by a heading or a line about the page.
  if (polar && sentence.novel === 0) return !sentence.heading && !sentence.meta;
  if (sentence.novel === 0) return false;
  return (expected !== "number" && expected !== "date") || sentence.typed || sentence.novel >= 2;
}

/**
 * Answers by quoting the passages' best answer-bearing sentences verbatim, each followed by the marker of
 * its passage ("… 1974. [2]"), best first. Says plainly that nothing was found when no such sentence
 * covers enough of the question, and then `answered` is false: a passage that only restates the question
 * does not answer it.
 */
export function answerExtractively(question: string, passages: NumberedPassage[], options: ExtractiveOptions = DEFAULT_EXTRACTIVE): ExtractiveAnswer {
  const expected = answerType(question);
  const polar = isPolar(question);
  const all = rankSentences(question, passages, options.weights);
  const ranked = all.filter((s) => bearsAnswer(s, expected, polar));
  // A restatement shows how fully the documents name what is asked; a sentence that shares only part of
  // that, even with its passage's title ("Acme Sync keeps folders in step" for "How do I configure Acme
  // Sync?"), is about something else.
  const restated = all.reduce((most, s) => (bearsAnswer(s, expected, polar) ? most : Math.max(most, s.coverage)), 0);
  const covers = (s: RankedSentence) => s.coverage >= options.minCoverage && s.titled >= options.restatedShare * restated;
  const best = ranked[0];
  if (!best || !covers(best)) return { answer: NO_ANSWER, citations: [], answered: false, truncated: false };

  const picked = [best];
  for (const candidate of ranked.slice(1)) {
    if (picked.length >= options.maxSentences || candidate.score < options.followScore * best.score) break;
    if (covers(candidate)) picked.push(candidate);
  }

  // Neighbouring sentences of one passage read as one quote, in the passage's order.
  const quotes: Quote[] = [];
  for (const p of picked) {
    const q = quotes.find((x) => x.passage === p.passage && (x.first === p.index + 1 || x.last === p.index - 1));
    if (!q) quotes.push({ passage: p.passage, first: p.index, last: p.index, start: p.sentence.start, end: p.sentence.end });
    else if (p.index < q.first) Object.assign(q, { first: p.index, start: p.sentence.start });
    else Object.assign(q, { last: p.index, end: p.sentence.end });
  }

  const parts: string[] = [];
  const citations: Citation[] = [];
  let budget = options.maxTokens;
  let truncated = false;
  for (const q of quotes) {
    const passage = passages[q.passage]!;
    const marker = ` [${passage.number}]`;
    let end = q.end;
    const cost = estimateTokens(passage.text.slice(q.start, end)) + estimateTokens(marker);
    if (cost > budget) {
      if (parts.length > 0) break;
      end = cutToTokens(passage.text, q.start, end, budget - estimateTokens(marker));
      truncated = true;
      if (end <= q.start) break;
    }
    budget -= estimateTokens(passage.text.slice(q.start, end)) + estimateTokens(marker);
    parts.push(passage.text.slice(q.start, end) + marker);
    if (!citations.some((c) => c.marker === passage.number)) {
      citations.push({
        marker: passage.number,
        chunkId: passage.chunkId,
        documentId: passage.documentId,
        quote: passage.text.slice(q.start, end),
        quoteStart: codePointOffset(passage.text, q.start),
        quoteEnd: codePointOffset(passage.text, end),
      });
    }
    if (truncated) break;
  }
  if (parts.length === 0) return { answer: NO_ANSWER, citations: [], answered: false, truncated };
  return { answer: parts.join(" "), citations, answered: true, truncated };
}

/** Splits text into word-sized deltas that concatenate back to it exactly. */
export function wordDeltas(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

/** The built-in provider: no model, no network; quotes and cites the best sentences. */
export function extractiveProvider(): Provider {
  return {
    name: "extractive",
    defaultModel: EXTRACTIVE_MODEL,
    checkModel(model) {
      if (model !== EXTRACTIVE_MODEL) throw new InvalidArgumentError("options.model", `the extractive provider has one model, ${JSON.stringify(EXTRACTIVE_MODEL)}; got ${JSON.stringify(model)}`);
    },
    async *generate(input: GenerationInput) {
      const result = answerExtractively(input.question, input.passages, {
        ...DEFAULT_EXTRACTIVE,
        maxSentences: SENTENCES_BY_TEMPLATE[input.template],
        maxTokens: input.maxTokens,
      });
      for (const delta of wordDeltas(result.answer)) {
        input.signal.throwIfAborted();
        yield delta;
      }
      const promptTokens = estimateTokens(input.question) + input.passages.reduce((sum, p) => sum + estimateTokens(p.text), 0);
      return {
        citations: result.citations,
        answered: result.answered,
        usage: usage(promptTokens, estimateTokens(result.answer)),
        finishReason: result.truncated ? FinishReason.FINISH_REASON_LENGTH : FinishReason.FINISH_REASON_STOP,
        passagesUsed: input.passages.length,
      };
    },
  };
}
