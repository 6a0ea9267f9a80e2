import { z } from "zod";
import { DEFAULT_LIMITS, type ParseLimits } from "./parsing/limits.js";

export const documentsEnvSchema = z
  .object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// connection URL"),
    /** Largest body accepted, in bytes of the UTF-8 text or the raw upload. */
    MAX_DOCUMENT_BYTES: z.coerce.number().int().positive().default(10 * 1024 * 1024),
    /** Most characters in one chunk (UTF-16 units: characters outside the astral planes). */
    CHUNK_SIZE: z.coerce.number().int().min(100).max(100_000).default(800),
    /** Most characters a chunk repeats from the end of the one before it (same section only). */
    CHUNK_OVERLAP: z.coerce.number().int().min(0).default(100),

    /* Parsing untrusted files: worker processes, and what one file may cost (parsing/limits.ts, parsing/pool.ts). */
    /** Worker processes that parse files (all formats but plain text). */
    PARSE_WORKERS: z.coerce.number().int().min(1).max(32).default(2),
    /** Files that may wait for a parse worker; one more is refused with RESOURCE_EXHAUSTED. */
    PARSE_QUEUE: z.coerce.number().int().min(0).max(10_000).default(16),
    /** Wall-clock limit of one parse; the worker is then killed and replaced. */
    PARSE_TIMEOUT_MS: z.coerce.number().int().min(100).default(20_000),
    /** V8 heap of each parse worker (--max-old-space-size). pdf.js alone needs a few tens of MB. */
    PARSE_MAX_MEMORY_MB: z.coerce.number().int().min(128).default(512),
    /** Bytes a .docx may inflate to, declared or actual. */
    PARSE_MAX_EXPANDED_BYTES: z.coerce.number().int().positive().default(DEFAULT_LIMITS.maxExpandedBytes),
    PARSE_MAX_ZIP_ENTRIES: z.coerce.number().int().positive().default(DEFAULT_LIMITS.maxZipEntries),
    /** Uncompressed/compressed size of any .docx entry over 1 MiB (a zip bomb reaches 1000). */
    PARSE_MAX_COMPRESSION_RATIO: z.coerce.number().positive().default(DEFAULT_LIMITS.maxCompressionRatio),
    PARSE_MAX_PDF_PAGES: z.coerce.number().int().positive().default(DEFAULT_LIMITS.maxPdfPages),
    /** HTML nesting; at most 2,000, since the HTML walk recurses once per level. */
    PARSE_MAX_HTML_DEPTH: z.coerce.number().int().min(10).max(2_000).default(DEFAULT_LIMITS.maxHtmlDepth),
    /** Characters extracted from one file. */
    PARSE_MAX_TEXT_CHARS: z.coerce.number().int().positive().default(DEFAULT_LIMITS.maxTextChars),
  })
  .superRefine(
    (env, ctx) => {
      // Overlap of half a chunk or more would make every character appear in three chunks.
      if (env.CHUNK_OVERLAP * 2 >= env.CHUNK_SIZE) {
        ctx.addIssue({ code: "custom", path: ["CHUNK_OVERLAP"], message: `must be less than half of CHUNK_SIZE (${env.CHUNK_SIZE})` });
      }
    },
    // Only once each variable is valid on its own: one bad value, one message.
    { when: (payload) => payload.issues.length === 0 },
  );

export type DocumentsEnv = z.infer<typeof documentsEnvSchema>;

export function parseLimits(env: DocumentsEnv): ParseLimits {
  return {
    maxExpandedBytes: env.PARSE_MAX_EXPANDED_BYTES,
    maxZipEntries: env.PARSE_MAX_ZIP_ENTRIES,
    maxCompressionRatio: env.PARSE_MAX_COMPRESSION_RATIO,
    maxPdfPages: env.PARSE_MAX_PDF_PAGES,
    maxHtmlDepth: env.PARSE_MAX_HTML_DEPTH,
    maxTextChars: env.PARSE_MAX_TEXT_CHARS,
  };
}
