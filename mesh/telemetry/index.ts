import type { NodeSDK } from "@opentelemetry/sdk-node";

/** Flushes buffered spans; a no-op when the process was started without the telemetry preload. */
export async function shutdownTelemetry(): Promise<void> {
  const sdk = (globalThis as { __ragTelemetry?: NodeSDK }).__ragTelemetry;
  await sdk?.shutdown().catch(() => undefined);
}
