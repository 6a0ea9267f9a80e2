import { test } from "node:test";
import assert from "node:assert/strict";
import { containsAnswer, loadDataset, passageIdOf, passageUri, retrievalFigures, spreadSample, SQUAD_DIR } from "./eval.js";

test("retrieval figures: recall@k and MRR@10 from ranked lists", () => {
  const figures = retrievalFigures(
    [["a", "b"], ["x", "y", "z", "q", "w", "b"], ["b", "b", "c"], []],
    [["a"], ["b"], ["c"], ["d"]],
  );
  assert.deepEqual(figures, { questions: 4, recall_at_1: 0.25, recall_at_5: 0.5, recall_at_10: 0.75, mrr_at_10: Math.round(((1 + 1 / 6 + 1 / 2) / 4) * 1000) / 1000 });
});

test("answer containment uses SQuAD normalisation and whole words", () => {
  assert.ok(containsAnswer("It began in October, 1973 [1].", ["October 1973"]));
  assert.ok(containsAnswer("The Normans were in Normandy.", ["Normandy"]));
  assert.ok(!containsAnswer("In 19733 it ended.", ["1973"]));
  assert.ok(containsAnswer("the price was nearly $12.", ["nearly $12"]));
});

test("passage uris round-trip and the sample is fixed and spread", () => {
  assert.equal(passageIdOf(passageUri("Fresno,_California_003")), "Fresno,_California_003");
  assert.equal(passageIdOf("file:///x"), undefined);
  assert.deepEqual(spreadSample([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3), [0, 3, 6]);
});

test("the shared SQuAD dataset loads", () => {
  const { corpus, questions } = loadDataset(SQUAD_DIR);
  assert.equal(corpus.length, 2067);
  assert.equal(questions.length, 10570);
});
