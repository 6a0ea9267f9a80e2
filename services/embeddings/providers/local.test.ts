import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_DIMENSIONS, embed, embedWithUsage, localModelName, tokenize } from "./local.js";
import { LocalProvider } from "./local-provider.js";
import { porterStem } from "./porter-stemmer.js";

const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * b[i]!, 0);
const norm = (a: Float32Array) => Math.sqrt(dot(a, a));
const similarity = (a: string, b: string) => {
  const [x, y] = embed([a, b]);
  return dot(x!, y!);
};

describe("porter stemmer", () => {
  test("gives the stems of Porter's reference vocabulary", () => {
    const expected: Record<string, string> = {
      caresses: "caress", ponies: "poni", ties: "ti", cats: "cat", feed: "feed", agreed: "agre", plastered: "plaster",
      motoring: "motor", sing: "sing", conflated: "conflat", troubled: "troubl", sized: "size", hopping: "hop",
      tanned: "tan", falling: "fall", hissing: "hiss", fizzed: "fizz", failing: "fail", filing: "file", happy: "happi",
      sky: "sky", generalizations: "gener", oscillators: "oscil", relational: "relat", conditional: "condit",
      rational: "ration", hopeful: "hope", goodness: "good", adjustment: "adjust", effective: "effect",
      controlling: "control", rolling: "roll", invented: "invent", invention: "invent", inventing: "invent",
    };
    for (const [word, stem] of Object.entries(expected)) assert.equal(porterStem(word), stem, word);
  });
});

describe("local embedder", () => {
  test("is deterministic: same text, same vector, whatever else is in the batch", () => {
    const text = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.";
    const [alone] = embed([text]);
    const [, inBatch] = embed(["something else entirely", text]);
    assert.deepEqual(inBatch, alone);
    assert.deepEqual(embed([text])[0], alone);
  });

  test("gives unit vectors of the configured length, even for odd texts", () => {
    const texts = ["Hello", "!!!", "to be or not to be", "Ünïcödé façade", "東京は日本の首都です", "x".repeat(20_000), "42"];
    for (const v of embed(texts)) {
      assert.equal(v.length, DEFAULT_DIMENSIONS);
      assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
    }
    const [small] = embed(["Hello"], { dimensions: 64 });
    assert.equal(small!.length, 64);
    assert.ok(Math.abs(norm(small!) - 1) < 1e-5);
    assert.equal(localModelName(64), "local-hash-64");
  });

  test("folds case and accents and ignores punctuation", () => {
    assert.deepEqual(tokenize("Café, CAFÉ & naïve—don't!"), ["cafe", "cafe", "naive", "dont"]);
    assert.ok(similarity("Crème brûlée in Paris", "creme brulee in paris") > 0.999);
  });

  test("scores related texts above unrelated ones", () => {
    const cases: [query: string, related: string, unrelated: string][] = [
      [
        "Who invented the telephone?",
        "Alexander Graham Bell is credited with the invention of the first practical telephone in 1876.",
        "The Amazon rainforest covers most of the Amazon basin of South America.",
      ],
      [
        "When did the 1973 oil crisis begin?",
        "The 1973 oil crisis began in October 1973 when the members of OAPEC proclaimed an oil embargo.",
        "The Normans gave their name to Normandy, a region in France.",
      ],
      [
        "What do plants need for photosynthesis?",
        "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make food.",
        "The stock market crashed in October 1929, starting the Great Depression.",
      ],
    ];
    for (const [query, related, unrelated] of cases) {
      const [q, r, u] = embed([query, related, unrelated]);
      assert.ok(dot(q!, r!) > dot(q!, u!) + 0.1, `${query}: related ${dot(q!, r!).toFixed(3)} vs unrelated ${dot(q!, u!).toFixed(3)}`);
    }
  });

  test("lets word forms meet through stems and character n-grams", () => {
    const related = similarity("invented", "invention");
    const unrelated = similarity("invented", "rainforest");
    assert.ok(related > 0.5, `invented/invention ${related}`);
    assert.ok(related > unrelated + 0.3);
    // Stopwords count for little: adding them barely moves a text; changing a content word moves it a lot.
    assert.ok(similarity("history of the city", "the history of all of the city") > 0.95);
    assert.ok(similarity("history of the city", "history of the river") < 0.7);
  });

  test("counts the words it read", () => {
    assert.equal(embedWithUsage(["one two three", "four"]).tokens, 4);
  });

  test("as a provider: same vectors in slices, and a cancelled call stops", async () => {
    const provider = new LocalProvider(128, 2);
    const texts = ["alpha beta", "gamma", "delta epsilon", "zeta", "eta"];
    const out = await provider.embed(texts, { inputType: "document" });
    assert.deepEqual(out.vectors, embed(texts, { dimensions: 128 }));
    assert.equal(out.tokens, 7);
    assert.equal(provider.model, "local-hash-128");

    const controller = new AbortController();
    controller.abort(new Error("caller went away"));
    await assert.rejects(provider.embed(texts, { inputType: "query", signal: controller.signal }), /caller went away/);
  });
});
