import type { Citation } from "#gen/rag/v1/generation.js";
import type { NumberedPassage } from "./provider.js";
import { rankSentences } from "./sentence-rank.js";
import { codePointOffset, splitSentences, type Sentence } from "./text.js";

/** "[1]", "[2, 3]", "[4-5]": what models write when told to cite with "[n]". */
const MARKER = /\[(\d+(?:\s*[-–,]\s*\d+)*)\]/g;

/** Marker numbers of one bracket, in order: "2, 3" -> [2, 3]; "4-6" -> [4, 5, 6] (short ranges only). */
function markerNumbers(inside: string): number[] {
  return inside.split(",").flatMap((part) => {
    const [from, to] = part.split(/[-–]/).map((x) => Number(x.trim()));
    if (to === undefined || to < from! || to - from! > 20) return [from!];
    return Array.from({ length: to - from! + 1 }, (_, i) => from! + i);
  });
}

/**
 * Citations for a model-written answer: one per distinct marker that names a passage shown to the model, in
 * order of first use. The quote is the passage sentence that best matches the claim the marker closes (the
 * answer sentence holding it); it stays empty when no sentence shares a word with the claim.
 */
export function citationsFromAnswer(answer: string, shown: NumberedPassage[]): Citation[] {
  const byNumber = new Map(shown.map((p) => [p.number, p]));
  const claims = splitSentences(answer);
  const out: Citation[] = [];
  for (const m of answer.matchAll(MARKER)) {
    const claim = claimBefore(answer, claims, m.index);
    for (const number of markerNumbers(m[1]!)) {
      const passage = byNumber.get(number);
      if (!passage || out.some((c) => c.marker === number)) continue;
      out.push({ marker: number, chunkId: passage.chunkId, documentId: passage.documentId, ...locateQuote(claim.replace(MARKER, " "), passage.text) });
    }
  }
  return out;
}

/** The answer sentence a marker closes: its own, or the one before when the marker opens a sentence ("… 1974. [2]"). */
function claimBefore(answer: string, claims: Sentence[], at: number): string {
  const i = claims.findIndex((c) => at >= c.start && at < c.end);
  if (i < 0) return answer;
  const leading = answer.slice(claims[i]!.start, at).replace(MARKER, "").trim() === "";
  return (leading && i > 0 ? claims[i - 1]! : claims[i]!).text;
}

function locateQuote(claim: string, text: string): Pick<Citation, "quote" | "quoteStart" | "quoteEnd"> {
  const best = rankSentences(claim, [{ text }])[0];
  if (!best || best.coverage === 0) return { quote: "", quoteStart: 0, quoteEnd: 0 };
  const { start, end } = best.sentence;
  return { quote: text.slice(start, end), quoteStart: codePointOffset(text, start), quoteEnd: codePointOffset(text, end) };
}
