import { z } from "zod";
import { API_KEY_FORMAT_HINT, parseApiKey } from "./secrets.js";

export const identityEnvSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// connection URL"),
  /**
   * The operator's admin key for tenant "default", used when the database has no tenant yet. Unset: a key
   * is generated and logged once (warn level) at that first start.
   */
  IDENTITY_BOOTSTRAP_ADMIN_KEY: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === "" || parseApiKey(v) !== undefined, `expected ${API_KEY_FORMAT_HINT}`),
  /** Days a token signing key signs before a new one takes over (fractions allowed). */
  IDENTITY_KEY_ROTATION_DAYS: z.coerce.number().positive().default(30),
});

export type IdentityEnv = z.infer<typeof identityEnvSchema>;
