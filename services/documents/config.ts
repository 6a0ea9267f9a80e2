import { z } from "zod";

export const documentsEnvSchema = z
  .object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// connection URL"),
    /** Largest body accepted, in bytes of the UTF-8 text or the raw upload. */
    MAX_DOCUMENT_BYTES: z.coerce.number().int().positive().default(10 * 1024 * 1024),
    /** Most characters in one chunk (UTF-16 units: characters outside the astral planes). */
    CHUNK_SIZE: z.coerce.number().int().min(100).max(100_000).default(800),
    /** Most characters a chunk repeats from the end of the one before it (same section only). */
    CHUNK_OVERLAP: z.coerce.number().int().min(0).default(100),
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
