import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FinishReason } from "#gen/rag/v1/generation.js";
import { answerExtractively, DEFAULT_EXTRACTIVE, extractiveProvider, wordDeltas } from "./extractive.js";
import { NO_ANSWER, type GenerationInput, type NumberedPassage } from "./provider.js";
import { answerType, rankSentences } from "./sentence-rank.js";
import { codePointOffset, estimateTokens, splitSentences, stem } from "./text.js";

const passage = (number: number, title: string, text: string): NumberedPassage => ({
  number,
  chunkId: `chunk-${number}`,
  documentId: `doc-${title.toLowerCase().replace(/\W+/g, "-")}`,
  title,
  sourceUri: "",
  text,
});

const PASSAGES = [
  passage(1, "Paris", "Paris is the capital and largest city of France. The Louvre, in the heart of the city, is the world's most-visited museum. The city hosted the Summer Olympics in 1900, 1924 and 2024."),
  passage(2, "Eiffel Tower", "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. It is named after the engineer Gustave Eiffel, whose company designed and built the tower. Construction was completed in March 1889 as the centrepiece of the World's Fair."),
  passage(3, "Seine", "The Seine is a river in northern France. It flows 777 kilometres from Burgundy through Paris into the English Channel at Le Havre."),
];

/** Every citation's quote is the exact text of its passage at its code-point offsets. */
function assertExactQuotes(passages: NumberedPassage[], citations: ReturnType<typeof answerExtractively>["citations"]) {
  for (const c of citations) {
    const p = passages.find((x) => x.number === c.marker);
    assert.ok(p, `marker ${c.marker} names a passage`);
    assert.equal(c.chunkId, p.chunkId);
    assert.equal(c.documentId, p.documentId);
    assert.ok(p.text.includes(c.quote), "the quote is verbatim");
    assert.equal([...p.text].slice(c.quoteStart, c.quoteEnd).join(""), c.quote, "offsets in code points locate the quote");
  }
}

describe("extractive answerer", () => {
  test("quotes the sentence that answers and cites its passage", () => {
    const r = answerExtractively("When was the Eiffel Tower completed?", PASSAGES);
    assert.equal(r.answered, true);
    assert.ok(r.answer.startsWith("Construction was completed in March 1889 as the centrepiece of the World's Fair. [2]"), r.answer);
    assert.equal(r.citations[0]?.marker, 2);
    assert.equal(r.citations[0]?.quote, "Construction was completed in March 1889 as the centrepiece of the World's Fair.");
    assertExactQuotes(PASSAGES, r.citations);
  });

  test("question-type cues pick the sentence with a number, a place or a name", () => {
    const many = answerExtractively("How many kilometres long is the Seine?", PASSAGES, { ...DEFAULT_EXTRACTIVE, maxSentences: 1 });
    assert.match(many.answer, /^It flows 777 kilometres .* \[3\]$/);
    const who = answerExtractively("Which engineer is the Eiffel Tower named after?", PASSAGES, { ...DEFAULT_EXTRACTIVE, maxSentences: 1 });
    assert.match(who.answer, /Gustave Eiffel/);
    const when = answerExtractively("In which years did Paris host the Olympics?", PASSAGES, { ...DEFAULT_EXTRACTIVE, maxSentences: 1 });
    assert.match(when.answer, /1900, 1924 and 2024\. \[1\]$/);
  });

  test("every marker in the answer maps to a citation of that passage, in order of first use", () => {
    const r = answerExtractively("Which river flows through Paris, the capital of France?", PASSAGES, { ...DEFAULT_EXTRACTIVE, maxSentences: 3 });
    const markers = [...r.answer.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
    assert.ok(markers.length >= 1);
    assert.deepEqual(r.citations.map((c) => c.marker), [...new Set(markers)]);
    assertExactQuotes(PASSAGES, r.citations);
    // Every quoted sentence of the answer is verbatim passage text.
    for (const part of r.answer.split(/ \[\d+\] ?/).filter(Boolean)) assert.ok(PASSAGES.some((p) => p.text.includes(part)), part);
  });

  test("markers follow the passages' own numbers", () => {
    const numbered = [{ ...PASSAGES[2]!, number: 7 }, { ...PASSAGES[0]!, number: 9 }];
    const r = answerExtractively("Where does the Seine flow into the English Channel?", numbered);
    assert.match(r.answer, /Le Havre\. \[7\]/);
    assert.equal(r.citations[0]?.marker, 7);
    assert.equal(r.citations[0]?.chunkId, "chunk-3");
  });

  test("says plainly when the passages hold no answer", () => {
    for (const q of ["What is the boiling point of mercury?", "Who won the 1998 football World Cup final?"]) {
      const r = answerExtractively(q, PASSAGES);
      assert.equal(r.answered, false, q);
      assert.equal(r.answer, NO_ANSWER);
      assert.deepEqual(r.citations, []);
    }
  });

  test("a sentence that restates the question is never the answer, and alone it answers nothing", () => {
    const restating = [
      passage(1, "Tower FAQ", "When was the Eiffel Tower completed?\n\nThis page explains when the Eiffel Tower was completed."),
      passage(2, "Eiffel Tower", "Eiffel Tower completion\n\nThe Eiffel Tower was completed in March 1889."),
    ];
    const r = answerExtractively("When was the Eiffel Tower completed?", restating);
    assert.equal(r.answer, "The Eiffel Tower was completed in March 1889. [2]");
    const none = answerExtractively("When was the Eiffel Tower completed?", restating.slice(0, 1));
    assert.equal(none.answered, false, none.answer);
    assert.equal(none.answer, NO_ANSWER);
  });

  test("a yes/no question is answered by the statement of its fact, not by its restatement", () => {
    const cats = [
      passage(1, "Cats FAQ", "Do cats purr when content?\n\nThis page explains whether cats purr when content."),
      passage(2, "Cats", "Cats sleep sixteen hours a day. They purr when they are content."),
    ];
    const r = answerExtractively("Do cats purr when content?", cats);
    assert.equal(r.answered, true, r.answer);
    assert.equal(r.answer, "They purr when they are content. [2]");
    const none = answerExtractively("Do cats purr when content?", cats.slice(0, 1));
    assert.equal(none.answered, false, none.answer);
  });

  test("a question is told from a statement that quotes one or carries an editor's note", () => {
    const asks = (text: string) => rankSentences("pope basilica", [{ text }])[0]!.asks;
    assert.equal(asks("Why does the pope build the basilica?"), true);
    assert.equal(asks("Why does the pope build the basilica?\u201d"), true);
    assert.equal(asks('Thesis 86 asks: "Why does the pope build the basilica?"'), false);
    assert.equal(asks("The pope built the basilica in 1506.[when?]"), false);
  });

  test("quote offsets count code points when the passage has emoji and accents", () => {
    const p = [passage(1, "Café", "Le café 😀 ouvre à 7 h. The café opens at seven in the morning on weekdays.")];
    const r = answerExtractively("When does the café open on weekdays?", p, { ...DEFAULT_EXTRACTIVE, maxSentences: 1 });
    assert.equal(r.citations[0]?.quote, "The café opens at seven in the morning on weekdays.");
    assert.equal(r.citations[0]?.quoteStart, 23, "the emoji counts once");
    assertExactQuotes(p, r.citations);
  });

  test("a token limit cuts the answer at a word and reports it", () => {
    const r = answerExtractively("When was the Eiffel Tower completed?", PASSAGES, { ...DEFAULT_EXTRACTIVE, maxTokens: 6 });
    assert.equal(r.truncated, true);
    assert.ok(estimateTokens(r.answer) <= 6, r.answer);
    assert.equal(r.answer, `${r.citations[0]!.quote} [2]`);
    assert.ok(PASSAGES[1]!.text.startsWith(r.citations[0]!.quote, PASSAGES[1]!.text.indexOf("Construction")));
  });

  test("the provider streams word deltas that rebuild the answer, then reports the outcome", async () => {
    const provider = extractiveProvider();
    assert.throws(() => provider.checkModel("gpt-4o"), /options\.model/);
    const input: GenerationInput = {
      question: "When was the Eiffel Tower completed?",
      passages: PASSAGES,
      model: provider.defaultModel,
      maxTokens: 512,
      temperature: 0.2,
      template: "concise",
      stream: true,
      signal: new AbortController().signal,
    };
    const run = provider.generate(input);
    const deltas: string[] = [];
    let step = await run.next();
    for (; !step.done; step = await run.next()) deltas.push(step.value);
    assert.ok(deltas.length > 5, "word-sized pieces");
    assert.equal(deltas.join(""), "Construction was completed in March 1889 as the centrepiece of the World's Fair. [2]");
    assert.equal(step.value.answered, true);
    assert.equal(step.value.finishReason, FinishReason.FINISH_REASON_STOP);
    assert.equal(step.value.passagesUsed, 3);
    assert.equal(step.value.usage.completionTokens, estimateTokens(deltas.join("")));
    assert.equal(step.value.usage.totalTokens, step.value.usage.promptTokens + step.value.usage.completionTokens);
  });
});

describe("text primitives", () => {
  test("sentences keep exact offsets and survive abbreviations and initials", () => {
    const text = "Mr. Smith moved to Washington, D.C. in 1990.  He met Dr. J. Doe at St. Paul's.\nThe U.S. Army won. It is in the U.S. The end";
    const sentences = splitSentences(text);
    assert.deepEqual(sentences.map((s) => s.text), [
      "Mr. Smith moved to Washington, D.C. in 1990.",
      "He met Dr. J. Doe at St. Paul's.",
      "The U.S. Army won.",
      "It is in the U.S.",
      "The end",
    ]);
    for (const s of sentences) assert.equal(text.slice(s.start, s.end), s.text);
  });

  test("stems join the forms a question and a passage use", () => {
    assert.equal(stem("completed"), stem("complete"));
    assert.equal(stem("cities"), stem("city"));
    assert.equal(stem("running"), stem("run"));
    assert.equal(stem("glass"), "glass");
  });

  test("answer types and token estimates", () => {
    assert.equal(answerType("When did it begin?"), "date");
    assert.equal(answerType("How many people live there?"), "number");
    assert.equal(answerType("Who founded the company?"), "person");
    assert.equal(answerType("Where is the tower?"), "place");
    assert.equal(answerType("What is a tower?"), "none");
    assert.equal(estimateTokens("Hello, world"), 3);
    assert.equal(codePointOffset("a😀b", 3), 2);
  });

  test("word deltas concatenate back to the text", () => {
    const text = "One  two\nthree [1]";
    assert.equal(wordDeltas(text).join(""), text);
    assert.deepEqual(wordDeltas(text), ["One", "  two", "\nthree", " [1]"]);
  });
});
