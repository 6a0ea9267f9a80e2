/**
 * How the example rag.v2 server answers one question: it picks the sentence of the collection's passages
 * that shares the most words with the question and cites it. This is deliberately not RAG (no embeddings,
 * no generator): the example is about serving a second API version, and a rule this simple lets a test
 * predict every answer from its request and passages.
 */

/** One passage the example server can cite. */
export interface Passage {
  collection: string;
  documentId: string;
  chunkId: string;
  title: string;
  text: string;
}

export type AnswerFormat = "plain" | "markdown";

/** The fields of a rag.v2.Answer, by protobuf-es local name, so it can be passed to `create` as is. */
export interface AnswerFields {
  question: string;
  text: string;
  answered: boolean;
  citations: {
    marker: number;
    source: { documentId: string; chunkId: string; title: string };
    quote: { text: string; start: number; end: number };
  }[];
}

// Words that match almost any sentence; left out so they cannot make an unrelated sentence "relevant".
const STOP_WORDS = new Set(["the", "and", "for", "are", "was", "were", "what", "which", "who", "whom", "how", "why", "when", "where", "does", "did", "with", "that", "this", "from", "into", "its", "has", "have"]);

function words(text: string): Set<string> {
  const out = new Set<string>();
  for (const [w] of text.toLowerCase().matchAll(/\p{L}[\p{L}\p{N}]*/gu)) {
    if (w.length >= 3 && !STOP_WORDS.has(w)) out.add(w);
  }
  return out;
}

interface Sentence {
  passage: Passage;
  text: string;
  /** Code-point offsets in the passage text, as rag.v2.TextSpan counts them. */
  start: number;
  end: number;
}

function sentencesOf(passage: Passage): Sentence[] {
  const out: Sentence[] = [];
  for (const m of passage.text.matchAll(/[^.!?]+[.!?]*/g)) {
    const lead = m[0].length - m[0].trimStart().length;
    const text = m[0].trim();
    if (text === "") continue;
    const start = codePoints(passage.text.slice(0, m.index + lead));
    out.push({ passage, text, start, end: start + codePoints(text) });
  }
  return out;
}

const codePoints = (s: string) => Array.from(s).length;

/**
 * Answers `question` from the passages of `collection`: the best-matching sentence with one citation, or
 * `answered: false` when no sentence shares a word with the question. Ties go to the earlier passage.
 */
export function answerQuestion(question: string, collection: string, passages: readonly Passage[], format: AnswerFormat): AnswerFields {
  const wanted = words(question);
  let best: { sentence: Sentence; score: number } | undefined;
  for (const passage of passages) {
    if (passage.collection !== collection) continue;
    for (const sentence of sentencesOf(passage)) {
      const have = words(sentence.text);
      const score = [...wanted].filter((w) => have.has(w)).length;
      if (score > 0 && (!best || score > best.score)) best = { sentence, score };
    }
  }
  if (!best) return { question, text: "", answered: false, citations: [] };

  const { sentence } = best;
  const text = format === "markdown" ? `${sentence.text} [^1]\n\n[^1]: ${sentence.passage.title}` : `${sentence.text} [1]`;
  return {
    question,
    text,
    answered: true,
    citations: [
      {
        marker: 1,
        source: { documentId: sentence.passage.documentId, chunkId: sentence.passage.chunkId, title: sentence.passage.title },
        quote: { text: sentence.text, start: sentence.start, end: sentence.end },
      },
    ],
  };
}
