import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { citationsFromAnswer } from "./citations.js";
import { packPrompt } from "./prompt.js";
import { NO_ANSWER, type NumberedPassage } from "./provider.js";
import { estimateTokens } from "./text.js";

const passage = (number: number, words: number, title = `Doc ${number}`): NumberedPassage => ({
  number,
  chunkId: `c${number}`,
  documentId: `d${number}`,
  title,
  sourceUri: `https://example.test/${number}`,
  text: Array.from({ length: words }, (_, i) => `word${number}x${i}`).join(" ") + ".",
});

describe("context packing", () => {
  test("the prompt numbers the passages, asks for [n] citations and says what to do without an answer", () => {
    const p = packPrompt("Where is it?", [passage(1, 5, "Guide"), passage(4, 5)], "default", 4000);
    assert.equal(p.used, 2);
    assert.equal(p.messages[0]!.role, "system");
    assert.match(p.messages[0]!.content, /\[1\]/);
    assert.ok(p.messages[0]!.content.includes(NO_ANSWER));
    const user = p.messages[1]!.content;
    assert.match(user, /^Context passages:\n\n\[1\] Guide \(https:\/\/example\.test\/1\)\nword1x0 /);
    assert.match(user, /\n\n\[4\] Doc 4 /);
    assert.match(user, /Question: Where is it\?$/);
    assert.notEqual(packPrompt("q", [passage(1, 5)], "concise", 4000).messages[0]!.content, p.messages[0]!.content, "templates differ");
  });

  test("stays within the budget by dropping the lowest-ranked passages whole", () => {
    const passages = [1, 2, 3, 4, 5].map((n) => passage(n, 100));
    const all = packPrompt("What is it?", passages, "default", 100_000);
    assert.equal(all.used, 5);
    for (const budget of [all.estimatedTokens, all.estimatedTokens - 1, Math.floor(all.estimatedTokens * 0.6), Math.floor(all.estimatedTokens * 0.3)]) {
      const p = packPrompt("What is it?", passages, "default", budget);
      assert.ok(p.estimatedTokens <= budget, `${p.estimatedTokens} <= ${budget}`);
      assert.equal(p.cut, false);
      // Whole passages only, the first ones.
      for (const x of passages.slice(0, p.used)) assert.ok(p.messages[1]!.content.includes(x.text));
      for (const x of passages.slice(p.used)) assert.ok(!p.messages[1]!.content.includes(`[${x.number}]`));
    }
    assert.equal(packPrompt("What is it?", passages, "default", all.estimatedTokens).used, 5);
    assert.equal(packPrompt("What is it?", passages, "default", all.estimatedTokens - 1).used, 4);
  });

  test("cuts a passage only when the first one alone exceeds the budget", () => {
    const big = passage(1, 2000);
    const p = packPrompt("What is it?", [big, passage(2, 10)], "default", 600);
    assert.ok(estimateTokens(big.text) > 600);
    assert.equal(p.used, 1);
    assert.equal(p.cut, true);
    assert.ok(p.estimatedTokens <= 600, String(p.estimatedTokens));
    const shown = /\[1\] [^\n]*\n(.*) …\n/s.exec(p.messages[1]!.content)![1]!;
    assert.ok(big.text.startsWith(shown) && shown.length < big.text.length, "a prefix of whole words");
    assert.equal(packPrompt("What is it?", [big], "default", 100).used, 0, "nothing fits beside the instructions");
    assert.ok(estimateTokens(p.messages[1]!.content) > 300);
  });
});

describe("citations from a model's answer", () => {
  const shown: NumberedPassage[] = [
    { number: 1, chunkId: "c1", documentId: "d1", title: "", sourceUri: "", text: "The plant opened in 1998. It makes 4,000 bicycles a week." },
    { number: 2, chunkId: "c2", documentId: "d2", title: "", sourceUri: "", text: "Workers get 30 days of paid leave. Overtime is paid double." },
  ];

  test("one per distinct marker, in order of first use, with the best-matching sentence quoted", () => {
    const answer = "Staff get 30 days of paid leave [2]. The plant makes 4,000 bicycles a week. [1] Overtime pays double [2][9].";
    const cites = citationsFromAnswer(answer, shown);
    assert.deepEqual(cites.map((c) => c.marker), [2, 1], "unknown marker 9 is ignored");
    assert.equal(cites[0]!.quote, "Workers get 30 days of paid leave.");
    assert.equal(cites[0]!.quoteStart, 0);
    assert.equal(cites[1]!.quote, "It makes 4,000 bicycles a week.", "a marker after the full stop closes the sentence before it");
    assert.equal(shown[0]!.text.slice(cites[1]!.quoteStart, cites[1]!.quoteEnd), cites[1]!.quote);
    assert.equal(cites[1]!.chunkId, "c1");
  });

  test("lists and ranges of markers, and claims that match no sentence", () => {
    const cites = citationsFromAnswer("Both facts hold [1, 2]. See also [1-2].", shown);
    assert.deepEqual(cites.map((c) => c.marker), [1, 2]);
    const none = citationsFromAnswer("Zebras [1].", shown);
    assert.deepEqual([none[0]!.quote, none[0]!.quoteStart, none[0]!.quoteEnd], ["", 0, 0]);
  });
});
