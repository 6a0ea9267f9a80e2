/**
 * Preloaded with `node --import ./mesh/telemetry/register.ts`: instrumentations patch modules as they load,
 * and under ESM that needs the import-in-the-middle loader hook registered before the service's own
 * imports are resolved — which is too late from inside main.ts.
 */
import { register } from "node:module";
import { basename, dirname } from "node:path";

register("@opentelemetry/instrumentation/hook.mjs", import.meta.url);

const { startTelemetry } = await import("./sdk.js");
const serviceName = process.env.OTEL_SERVICE_NAME || basename(dirname(process.argv[1] ?? "rag"));
const sdk = startTelemetry(serviceName);
(globalThis as { __ragTelemetry?: typeof sdk }).__ragTelemetry = sdk;
