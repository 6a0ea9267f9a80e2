import { z } from "zod";

export const generationEnvSchema = z
  .object({
    /** Provider used when a request names none. */
    GENERATION_PROVIDER: z.enum(["extractive", "openai"]).default("extractive"),
    /** Default model of the openai provider. */
    GENERATION_MODEL: z.string().regex(/^[\w.:/@-]{1,128}$/, "expected a model name such as gpt-4o-mini").default("gpt-4o-mini"),
    /** OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vLLM) or http://127.0.0.1:11434/v1 (Ollama). */
    OPENAI_BASE_URL: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
    OPENAI_API_KEY: z.string().optional(),
    /** Budget of the whole prompt (instructions, passages, question) in estimated tokens. */
    GENERATION_CONTEXT_TOKENS: z.coerce.number().int().min(256).max(2_000_000).default(8000),
    /** Retries of a model request that failed with 429/5xx before its first token. */
    GENERATION_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  })
  .superRefine((env, ctx) => {
    if (env.GENERATION_PROVIDER === "openai" && !env.OPENAI_API_KEY && !env.OPENAI_BASE_URL) {
      ctx.addIssue({
        code: "custom",
        path: ["OPENAI_API_KEY"],
        message: "required when GENERATION_PROVIDER=openai (or set OPENAI_BASE_URL for a local server that needs no key)",
      });
    }
  });

export type GenerationEnv = z.infer<typeof generationEnvSchema>;

/** The openai provider is offered when it is the default or an endpoint or key is configured. */
export function openaiConfigured(env: GenerationEnv): boolean {
  return env.GENERATION_PROVIDER === "openai" || env.OPENAI_API_KEY !== undefined || env.OPENAI_BASE_URL !== undefined;
}
