import { TEST_INTERNAL_SECRET } from "./auth.js";
import { createRuntime, type Runtime, type RuntimeOptions } from "#mesh/runtime.js";

/**
 * The runtime of a test process: it mints service tokens with the tests' shared secret, and finds services
 * at the catalogue's loopback ports unless given a discovery (a started stack's) or a client's `target`.
 */
export function testRuntime(opts: Partial<RuntimeOptions> = {}): Runtime {
  return createRuntime({ name: "client", internalSecret: TEST_INTERNAL_SECRET, ...opts });
}

/** One runtime for the clients of a test file that names its targets. */
export const runtime = testRuntime();
