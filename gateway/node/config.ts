import { z } from "zod";
import { addressMap, endpointList, port } from "#mesh/config.js";
import { discoveryEnvShape } from "#mesh/discovery/select.js";
import { resilienceEnv } from "#mesh/resilience/settings.js";
import { parseRateLimitConfig } from "./ratelimit/index.js";

const list = z.string().transform((raw) => raw.split(",").map((s) => s.trim()).filter(Boolean));

/** The gateway's environment. A bad value stops it with a message naming the variable (exit 78). */
export const gatewayEnvSchema = z.object({
  GATEWAY_HOST: z.string().min(1).default("0.0.0.0"),
  GATEWAY_PORT: port.default(8080),
  /** Descriptor sets to serve (comma-separated), each with imports: `make proto` builds gen/rag.binpb. */
  GATEWAY_DESCRIPTORS: list.default(["gen/rag.binpb"]),
  /**
   * Upstreams for services outside the catalogue, e.g. a rag.v2 service served beside v1:
   * `rag.v2.QueryService=127.0.0.1:50156`. Catalogue services are found through RAG_ENDPOINTS.
   */
  GATEWAY_UPSTREAMS: addressMap(/^[A-Za-z_][\w.]*$/, "package.Service").default({}),
  /**
   * Permissions of RPCs outside rag.v1 that this gateway serves (JSON: full method path → permission), e.g.
   * `{"/rag.v2.QueryService/Ask":"query.ask"}`. An RPC with no declared permission is refused (fail closed).
   */
  GATEWAY_METHOD_PERMISSIONS: z
    .string()
    .transform((raw, ctx) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: `not JSON: ${(err as Error).message}` });
        return z.NEVER;
      }
      const shape = z.record(z.string().regex(/^\/[\w.]+\/\w+$/, "keys are full method paths like /rag.v2.QueryService/Ask"), z.string().min(1));
      const checked = shape.safeParse(parsed);
      if (!checked.success) {
        ctx.addIssue({ code: "custom", message: checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") });
        return z.NEVER;
      }
      return checked.data;
    })
    .default({}),
  /** Allowed browser origins for CORS: "*" or a comma-separated list; empty turns CORS off. */
  GATEWAY_CORS_ORIGINS: list.default([]),
  GATEWAY_MAX_BODY_BYTES: z.coerce.number().int().positive().default(10 * 1024 * 1024),
  GATEWAY_UNARY_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
  GATEWAY_STREAM_TIMEOUT_MS: z.coerce.number().int().positive().default(10 * 60_000),
  /** JSON overrides of the rate limits per role and per tenant (see gateway/README.md). */
  GATEWAY_RATE_LIMITS: z.string().transform((raw, ctx) => {
    try {
      return parseRateLimitConfig(raw);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  }).optional(),
  /** Shared rate-limit buckets across gateway replicas; in-process buckets without it. */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL").optional(),
  RAG_ENDPOINTS: endpointList.default({}),
  // How upstreams are found (static, Consul, DNS) and called (balancing, retries, ejection): as every service.
  ...discoveryEnvShape,
  ...resilienceEnv,
  RAG_INTERNAL_SECRET: z.string({ error: "required: the secret shared by every service (`make run` makes one)" }).min(32, "must be at least 32 characters"),
  LOG_LEVEL: z.enum(["error", "warn", "info", "debug"]).default("info"),
  RAG_EXIT_WITH_STDIN: z.stringbool().default(false),
});

export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;
