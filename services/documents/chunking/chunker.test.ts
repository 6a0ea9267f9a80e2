import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseMarkdown } from "../parsing/markdown.js";
import { parsePlainText } from "../parsing/text.js";
import { chunkText, type ChunkOptions, type ChunkPiece } from "./chunker.js";
import { chunkId, withChunkIds } from "./ids.js";
import { estimateTokens } from "./tokens.js";
import { rng } from "#testing/random.js";

const VOCABULARY = ["the", "policy", "applies", "to", "every", "employee", "café", "naïve", "emoji😀", "Straße", "東京", "data", "x", "réseau", "𝔘nicode", "internationalisation", "e.g.", "Dr.", "v1.2", "snake_case"];

/** A markdown document with nested headings, paragraphs of varied length, lists, and the odd very long word. */
function randomMarkdown(random: () => number): string {
  const pick = <T,>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const sentence = () => {
    const n = 1 + Math.floor(random() * 30);
    const words = Array.from({ length: n }, () => (random() < 0.01 ? "y".repeat(300 + Math.floor(random() * 900)) : pick(VOCABULARY)));
    return `${words.join(" ")}${pick([".", "!", "?", "."])}`;
  };
  const paragraph = () => Array.from({ length: 1 + Math.floor(random() * (random() < 0.1 ? 40 : 6)) }, sentence).join(" ");
  const parts: string[] = [];
  if (random() < 0.5) parts.push(paragraph());
  const sections = Math.floor(random() * 8);
  for (let i = 0; i < sections; i++) {
    parts.push(`${"#".repeat(1 + Math.floor(random() * 3))} ${pick(VOCABULARY)} ${i}`);
    const paras = Math.floor(random() * 5);
    for (let j = 0; j < paras; j++) parts.push(random() < 0.2 ? `- ${sentence()}\n- ${sentence()}` : paragraph());
  }
  if (parts.length === 0) parts.push(sentence());
  return parts.join("\n\n");
}

const cp = (s: string) => [...s];
const isSpace = (c: string | undefined) => c !== undefined && /[^\S\u00A0\u2007\u202F]/.test(c);

/** Everything the chunker promises, checked on one document. */
function checkProperties(text: string, headings: { title: string; level: number; at: number }[], chunks: ChunkPiece[], opts: ChunkOptions, label: string) {
  const points = cp(text);
  const covered = new Uint8Array(points.length);
  chunks.forEach((c, i) => {
    assert.equal(c.index, i, `${label}: indexes run 0..n-1`);
    assert.equal(points.slice(c.startOffset, c.endOffset).join(""), c.text, `${label}: chunk ${i} text is exactly its slice`);
    assert.ok(c.text.length <= opts.size, `${label}: chunk ${i} has ${c.text.length} units, over ${opts.size}`);
    assert.ok(c.text.length > 0 && !isSpace(c.text[0]) && !isSpace(c.text[c.text.length - 1]), `${label}: chunk ${i} is trimmed`);
    assert.equal(c.contentHash, createHash("sha256").update(c.text).digest("hex"));
    assert.equal(c.tokenCount, estimateTokens(c.text));
    for (let k = c.startOffset; k < c.endOffset; k++) covered[k] = 1;
    // No word is cut, unless it is longer than a chunk: the characters either side of each cut are not both word characters.
    const before = points[c.startOffset - 1];
    const after = points[c.endOffset];
    const longWord = (at: number) => {
      let from = at;
      let to = at;
      while (from > 0 && !isSpace(points[from - 1])) from--;
      while (to < points.length && !isSpace(points[to])) to++;
      return to - from > opts.size;
    };
    if (before !== undefined && !isSpace(before) && !longWord(c.startOffset)) assert.fail(`${label}: chunk ${i} starts inside a word: …${points.slice(c.startOffset - 10, c.startOffset + 10).join("")}…`);
    if (after !== undefined && !isSpace(after) && !longWord(c.endOffset)) assert.fail(`${label}: chunk ${i} ends inside a word: …${points.slice(c.endOffset - 10, c.endOffset + 10).join("")}…`);
  });
  points.forEach((ch, k) => {
    if (!isSpace(ch) && !covered[k]) assert.fail(`${label}: character ${k} (${JSON.stringify(ch)}) is in no chunk`);
  });

  // Heading paths: the headings in force at the chunk's end, outermost first. Only a heading with no text of
  // its own sits inside a chunk (it travels with its first subsection), so headings inside get deeper.
  const headingCp = headings.map((h) => ({ ...h, cp: cp(text.slice(0, h.at)).length }));
  for (const c of chunks) {
    const path: typeof headingCp = [];
    for (const h of headingCp.filter((h) => h.cp < c.endOffset)) {
      while (path.length > 0 && path[path.length - 1]!.level >= h.level) path.pop();
      path.push(h);
    }
    assert.deepEqual(c.headingPath, path.map((h) => h.title), `${label}: heading path of chunk ${c.index}`);
    const inside = headingCp.filter((h) => h.cp >= c.startOffset && h.cp < c.endOffset);
    inside.slice(1).forEach((h, k) => assert.ok(h.level > inside[k]!.level, `${label}: chunk ${c.index} spans sibling sections`));
  }

  // Overlap: within a section, a chunk starts after its predecessor starts and repeats at most `overlap` of it.
  for (let i = 1; i < chunks.length; i++) {
    const prev = chunks[i - 1]!;
    const c = chunks[i]!;
    assert.ok(c.startOffset > prev.startOffset, `${label}: chunk ${i} starts after chunk ${i - 1}`);
    assert.ok(c.endOffset > prev.endOffset, `${label}: chunk ${i} ends after chunk ${i - 1}`);
    const repeated = points.slice(c.startOffset, prev.endOffset).join("");
    assert.ok(repeated.length <= opts.overlap, `${label}: chunk ${i} repeats ${repeated.length} units, over ${opts.overlap}`);
  }
}

describe("chunker", () => {
  test("properties hold on 300 random markdown documents and three sizes", () => {
    const sizes: ChunkOptions[] = [
      { size: 800, overlap: 100 },
      { size: 200, overlap: 0 },
      { size: 120, overlap: 59 },
    ];
    let chunks = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const parsed = parseMarkdown(randomMarkdown(rng(seed)));
      for (const opts of sizes) {
        const out = chunkText(parsed, opts);
        checkProperties(parsed.text, parsed.headings, out, opts, `seed ${seed}, size ${opts.size}/${opts.overlap}`);
        chunks += out.length;
      }
    }
    assert.ok(chunks > 3000, `exercised ${chunks} chunks`);
  });

  test("packs whole paragraphs, then sentences, and overlaps at a sentence start when one is near", () => {
    const paragraph = (n: number) => Array.from({ length: 4 }, (_, i) => `Paragraph ${n} sentence ${i} has a few words in it.`).join(" ");
    const text = Array.from({ length: 6 }, (_, i) => paragraph(i)).join("\n\n");
    const chunks = chunkText(parsePlainText(text), { size: 500, overlap: 60 });
    // Each paragraph is ~190 characters: two fit in 500, so every chunk but the last ends at a paragraph end.
    for (const c of chunks.slice(0, -1)) assert.match(c.text, /in it\.$/, "ends at a paragraph (or sentence) end");
    for (const c of chunks.slice(1)) assert.match(c.text, /^Paragraph \d sentence \d/, "the overlap starts at a sentence");
    assert.deepEqual(chunks.map((c) => c.headingPath), chunks.map(() => []));

    const long = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} ends here.`).join(" ");
    const split = chunkText(parsePlainText(long), { size: 200, overlap: 0 });
    assert.ok(split.length > 3);
    for (const c of split) assert.match(c.text, /^Sentence number \d+ .*ends here\.$/, "a long paragraph splits between sentences");
  });

  test("an over-long sentence splits between words; a giant word is cut, never between a surrogate pair", () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
    const chunks = chunkText(parsePlainText(words), { size: 100, overlap: 20 });
    for (const c of chunks) assert.match(c.text, /^word\d+( word\d+)*$/);

    const emoji = "😀".repeat(150);
    const cut = chunkText(parsePlainText(emoji), { size: 101, overlap: 0 });
    assert.equal(cut.map((c) => c.text).join(""), emoji);
    for (const c of cut) assert.ok(!/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(c.text), "whole code points");
    assert.deepEqual(cut.map((c) => [c.startOffset, c.endOffset]), [[0, 50], [50, 100], [100, 150]], "offsets count code points");
  });

  test("heading paths, and a heading without text travels with its first subsection", () => {
    const doc = parseMarkdown("Intro text.\n\n# Install\n\n## On Linux\n\nRun the script.\n\n## On Windows\n\nRun the installer.\n\n# FAQ\n\nAsk us.");
    const chunks = chunkText(doc, { size: 800, overlap: 100 });
    assert.deepEqual(
      chunks.map((c) => [c.text, c.headingPath]),
      [
        ["Intro text.", []],
        ["Install\n\nOn Linux\n\nRun the script.", ["Install", "On Linux"]],
        ["On Windows\n\nRun the installer.", ["Install", "On Windows"]],
        ["FAQ\n\nAsk us.", ["FAQ"]],
      ],
    );
  });

  test("chunk ids are UUIDv8 from document, content hash and occurrence", () => {
    const id = chunkId("3f0c2a4e-0000-4000-8000-000000000000", "ab".repeat(32), 0);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const h = createHash("sha256").update(`3f0c2a4e-0000-4000-8000-000000000000:${"ab".repeat(32)}:0`).digest("hex");
    assert.equal(id.replace(/-/g, "").slice(0, 12), h.slice(0, 12), "the hash's first bytes, formatted");

    const same = withChunkIds("doc", [{ contentHash: "a" }, { contentHash: "b" }, { contentHash: "a" }]);
    assert.equal(same[0]!.chunkId, chunkId("doc", "a", 0));
    assert.equal(same[2]!.chunkId, chunkId("doc", "a", 1), "a repeated chunk gets the next occurrence");
    assert.notEqual(same[0]!.chunkId, same[2]!.chunkId);
    assert.notEqual(chunkId("other", "a", 0), same[0]!.chunkId, "ids are per document");
  });

  test("an edit far away leaves the other sections' chunks, and their ids, unchanged", () => {
    const body = (faq: string) => `# Guide\n\n${"Setup takes a while. ".repeat(80)}\n\n# FAQ\n\n${faq}`;
    const ids = (md: string) => withChunkIds("doc-1", chunkText(parseMarkdown(md), { size: 300, overlap: 50 })).map((c) => c.chunkId);
    const before = ids(body("Ask us anything."));
    const after = ids(body("Ask us anything, any time."));
    assert.deepEqual(after.slice(0, -1), before.slice(0, -1), "the Guide section's chunks keep their ids");
    assert.notEqual(after.at(-1), before.at(-1));
  });

  test("token estimate: words by length, punctuation, CJK per character", () => {
    assert.equal(estimateTokens(""), 0);
    assert.equal(estimateTokens("the cat sat."), 4);
    assert.equal(estimateTokens("internationalisation"), 4);
    assert.equal(estimateTokens("東京タワー"), 5);
  });
});
