/**
 * Tests share one service-token secret between the test process (its mesh clients mint service tokens)
 * and every service it starts (they inherit the environment). Imported for that side effect.
 */
process.env.RAG_INTERNAL_SECRET ??= "test-only-internal-secret-0123456789abcdef";

export const TEST_INTERNAL_SECRET = process.env.RAG_INTERNAL_SECRET;
