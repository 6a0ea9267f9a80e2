/**
 * Token count estimate, not a real tokenizer (none ships with the service, and every embedding model
 * counts differently), modelled loosely on how BPE tokenizers such as OpenAI's cl100k treat prose:
 * - a run of letters/digits costs one token per 5 characters, at least one ("the" 1, "international" 3);
 * - every punctuation mark or symbol is one token;
 * - every Han, Kana or Hangul character is one token (CJK text has no spaces to split on).
 * It is a budgeting figure (context packing, batch sizes), not one to bill by.
 */
const CJK = String.raw`\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}`;
const PIECES = new RegExp(String.raw`[${CJK}]|(?:(?![${CJK}])[\p{L}\p{M}\p{N}])+|[^\s\p{L}\p{M}\p{N}]`, "gu");

export function estimateTokens(text: string): number {
  let tokens = 0;
  for (const [piece] of text.matchAll(PIECES)) {
    tokens += piece.length > 1 && /[\p{L}\p{N}]/u.test(piece[0]!) ? Math.max(1, Math.round(piece.length / 5)) : 1;
  }
  return tokens;
}
