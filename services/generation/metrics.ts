import client from "prom-client";
import { registry } from "#mesh/metrics.js";

/** Tokens spent, by provider and model: the basis of cost dashboards and per-deployment budgets. */
export const generationTokens = new client.Counter({
  name: "rag_generation_tokens_total",
  help: "Tokens used by generation, by provider, model and kind (prompt or completion).",
  labelNames: ["provider", "model", "kind"] as const,
  registers: [registry],
});

/** Answers given, and how many said the passages held no answer. */
export const generationAnswers = new client.Counter({
  name: "rag_generation_answers_total",
  help: "Generations completed, by provider and whether the passages held an answer.",
  labelNames: ["provider", "answered"] as const,
  registers: [registry],
});
