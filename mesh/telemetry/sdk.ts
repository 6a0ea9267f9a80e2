import { NodeSDK } from "@opentelemetry/sdk-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { GrpcInstrumentation } from "@opentelemetry/instrumentation-grpc";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace";

/**
 * Tracing is always on inside the process: spans are created and `traceparent` travels through gRPC
 * metadata, so log lines carry trace ids and a trace stays whole across services. Spans leave the
 * process only when OTEL_EXPORTER_OTLP_ENDPOINT names a collector (Jaeger >= 1.46 takes OTLP directly).
 */
export function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv = process.env): NodeSDK {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  // Without a collector a no-op processor still makes NodeSDK install a tracer provider (it installs none
  // for an empty list): spans then get real ids for logs and propagation, and are dropped when they end.
  const spanProcessors: SpanProcessor[] = endpoint ? [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: endpoint }) })] : [new NoopSpanProcessor()];
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, [ATTR_SERVICE_VERSION]: env.npm_package_version ?? "0.1.0" }),
    spanProcessors,
    // Metrics are Prometheus (prom-client on the admin port) and logs are winston on stdout: keep the SDK
    // from starting exporters of its own for them.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new GrpcInstrumentation({ ignoreGrpcMethods: ["Check", "Watch"] }),
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => /^\/(metrics|healthz|readyz)/.test(req.url ?? "") }),
      // No query parameters in spans: they hold tenants' text.
      new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  return sdk;
}
