import { z } from "zod";

export const documentsEnvSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// connection URL"),
  /** Largest body accepted, in bytes of the UTF-8 text or the raw upload. */
  MAX_DOCUMENT_BYTES: z.coerce.number().int().positive().default(10 * 1024 * 1024),
});

export type DocumentsEnv = z.infer<typeof documentsEnvSchema>;
