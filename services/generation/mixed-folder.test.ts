/**
 * Issue 8, finding "the extractive answerer answered 3 of 7 questions on a mixed real folder by quoting
 * the sentence of the page that restates the question, marked answered: true". Over a folder of different
 * kinds of pages (fixtures/mixed-folder.ts), each question is asked the way the product asks it: the
 * folder's best-matching chunks, most relevant first, go to the answerer.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerExtractively } from "./extractive.js";
import { MIXED_FOLDER } from "./fixtures/mixed-folder.js";
import { NO_ANSWER, type NumberedPassage } from "./provider.js";
import { terms } from "./text.js";

/** The top chunks by plain BM25 over the folder: a stand-in for retrieval, as in eval-extractive.ts. */
function retrieve(question: string, k = 5): NumberedPassage[] {
  const docs = MIXED_FOLDER.map((c) => terms(`${c.title} ${c.text}`).map((t) => t.stem));
  const average = docs.reduce((sum, d) => sum + d.length, 0) / docs.length;
  const q = [...new Set(terms(question).map((t) => t.stem))];
  const scored = docs.map((d, i) => {
    let score = 0;
    for (const t of q) {
      const f = d.filter((x) => x === t).length;
      if (f === 0) continue;
      const n = docs.filter((x) => x.includes(t)).length;
      score += Math.log(1 + (docs.length - n + 0.5) / (n + 0.5)) * ((f * 2.2) / (f + 1.2 * (0.25 + (0.75 * d.length) / average)));
    }
    return { i, score };
  });
  return scored
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, k)
    .map(({ i }, rank) => {
      const c = MIXED_FOLDER[i]!;
      return { number: rank + 1, chunkId: `${c.file}#${i}`, documentId: c.file, title: c.title, sourceUri: `file:///folder/${c.file}`, text: c.text };
    });
}

/** Sentences that only restate a question somewhere in the folder; none may ever be quoted. */
const RESTATEMENTS = [
  "How do I reset my password?",
  "This page explains how to reset your password.",
  "Follow the steps below.",
  "What is the refund policy?",
  "See the refund policy page for details.",
  "This page describes our refund policy.",
  "How many devices can I use at the same time?",
  "How do I install Acme Sync?",
  "This section covers the configuration of Acme Sync.",
  "When is the Berlin office open on Saturdays?",
  "The Saturday opening times of the Berlin office are listed below.",
  "This section is about visiting the Berlin office.",
];

function ask(question: string) {
  const passages = retrieve(question);
  assert.ok(passages.length > 0, `retrieval finds chunks for ${question}`);
  // The default template quotes up to two sentences: the most room a restatement would have to slip in.
  const result = answerExtractively(question, passages);
  for (const r of RESTATEMENTS) assert.ok(!result.answer.includes(r), `"${question}" is not answered with its restatement "${r}":\n${result.answer}`);
  for (const c of result.citations) {
    const p = passages.find((x) => x.number === c.marker);
    assert.ok(p?.text.includes(c.quote), "every quote is verbatim text of its passage");
  }
  return { result, passages };
}

const fileOf = (passages: NumberedPassage[], marker: number | undefined) => passages.find((p) => p.number === marker)?.documentId;

describe("extractive answerer on a mixed folder: restatements never answer", () => {
  test("FAQ and how-to both restate the question; the answer quotes the FAQ's answer under its question heading", () => {
    const { result, passages } = ask("How do I reset my password?");
    assert.equal(result.answered, true);
    assert.match(result.answer, /^Open Settings, choose Security and click Send reset link\./, result.answer);
    assert.equal(fileOf(passages, result.citations[0]?.marker), "faq.md");
  });

  test("the FAQ and the policy page restate the question; the answer quotes the policy's eligibility rule", () => {
    const { result, passages } = ask("What is the refund policy?");
    assert.equal(result.answered, true);
    assert.match(result.answer, /Annual plans are refunded in full within 14 days of purchase\./, result.answer);
    assert.equal(fileOf(passages, result.citations[0]?.marker), "refund-policy.html");
  });

  test("a how-many question is answered with the number under its FAQ heading", () => {
    const { result } = ask("How many devices can I use at the same time?");
    assert.equal(result.answered, true);
    assert.match(result.answer, /^One subscription works on up to five devices at once\. \[\d+\]/, result.answer);
  });

  test("a README's question heading is skipped for the command under it", () => {
    const { result, passages } = ask("How do I install Acme Sync?");
    assert.equal(result.answered, true);
    assert.match(result.answer, /^Run npm install -g acme-sync on a machine with Node 20 or later\./, result.answer);
    assert.equal(fileOf(passages, result.citations[0]?.marker), "README.md");
  });

  test("a page that only restates the question (its answer was never written) answers nothing", () => {
    for (const question of ["When does the Berlin office open on Saturdays?", "How do I configure Acme Sync?"]) {
      const { result } = ask(question);
      assert.equal(result.answered, false, `${question}: ${result.answer}`);
      assert.equal(result.answer, NO_ANSWER);
      assert.deepEqual(result.citations, []);
    }
  });

  test("a question the folder never raises is still answered when a page holds the answer", () => {
    const { result } = ask("How long do refunds take to reach my payment method?");
    assert.equal(result.answered, true);
    assert.match(result.answer, /within 5 business days/, result.answer);
  });
});
