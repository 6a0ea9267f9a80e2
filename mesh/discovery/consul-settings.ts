import { readFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { isIP } from "node:net";
import Consul from "consul";
import { z } from "zod";
import { ConfigError, parseEnv } from "#mesh/config.js";

/**
 * Settings for talking to a Consul agent, read from the variables Consul's own CLI reads
 * (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_HTTP_SSL, CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY,
 * CONSUL_TLS_SERVER_NAME), so one environment serves both the CLI and the services. They are parsed once at
 * start-up and handed to ConsulRegistration and ConsulDiscovery: nothing under mesh/discovery reads
 * process.env.
 */
export interface ConsulAgentSettings {
  scheme: "http" | "https";
  host: string;
  port: number;
  /** ACL token sent as X-Consul-Token on every request. */
  token?: string;
  /** TLS to the agent: CA to trust, client certificate and key (PEM), SNI name. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; serverName?: string };
}

/** How a replica registers itself (ConsulRegistration). Durations are Consul's ("10s", "1m"). */
export interface ConsulRegistrationSettings {
  /** The address other hosts reach this replica at; by default the bound host or the first LAN IPv4. */
  advertiseAddress?: string;
  tags: string[];
  checkInterval: string;
  checkTimeout: string;
  deregisterCriticalServiceAfter: string;
}

/** How clients follow a service (ConsulDiscovery's resolver). */
export interface ConsulWatchSettings {
  /** `wait` of each blocking query; the agent answers at the latest after this (plus up to 1/16). */
  wait: string;
  /** Changes closer together than this are delivered to grpc-js as one. */
  debounceMs: number;
}

export interface ConsulSettings {
  agent: ConsulAgentSettings;
  registration: ConsulRegistrationSettings;
  watch: ConsulWatchSettings;
}

const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const duration = z.string().regex(GO_DURATION, 'expected a duration such as "500ms", "10s" or "1m"');

/** `host:port`, `http://host:port` or `https://host:port` (IPv6 in brackets); the port defaults as the CLI's does. */
const agentAddress = z.string().transform((raw, ctx) => {
  const m = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/\s]+)(?::(\d{1,5}))?\/?$/.exec(raw.trim());
  const port = m?.[3] === undefined ? undefined : Number(m[3]);
  if (!m || (port !== undefined && (port < 1 || port > 65535))) {
    ctx.addIssue({ code: "custom", message: "expected host:port, http://host:port or https://host:port (e.g. 127.0.0.1:8500)" });
    return z.NEVER;
  }
  return { scheme: m[1] as "http" | "https" | undefined, host: m[2]!.replace(/^\[|\]$/g, ""), port };
});

/** A PEM file path, read when the settings are parsed so a missing file stops start-up naming its variable. */
const pemFile = z.string().transform((path, ctx) => {
  try {
    return readFileSync(path);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return z.NEVER;
  }
});

const advertiseAddress = z
  .string()
  .regex(/^[0-9A-Za-z.:-]+$/, "expected an IP address or host name")
  .refine((a) => !["0.0.0.0", "::", "[::]"].includes(a), "a wildcard address cannot be reached: give the address other hosts reach this replica at");

/**
 * The variables, as a zod shape the runtime can merge into its own schema
 * (`baseEnvSchema(name).extend(consulEnvShape)`), then turn into settings with `consulSettings(env)`.
 */
export const consulEnvShape = {
  CONSUL_HTTP_ADDR: agentAddress.default({ scheme: undefined, host: "127.0.0.1", port: undefined }),
  CONSUL_HTTP_TOKEN: z.string().optional(),
  CONSUL_HTTP_SSL: z.stringbool().optional(),
  CONSUL_CACERT: pemFile.optional(),
  CONSUL_CLIENT_CERT: pemFile.optional(),
  CONSUL_CLIENT_KEY: pemFile.optional(),
  CONSUL_TLS_SERVER_NAME: z.string().optional(),
  /** Address registered for this replica (never 0.0.0.0); default: the bound host, else the first LAN IPv4. */
  RAG_ADVERTISE_ADDRESS: advertiseAddress.optional(),
  /** Extra tags on the registration, comma-separated ("grpc" is always there). */
  RAG_CONSUL_TAGS: z
    .string()
    .transform((raw) => raw.split(",").map((t) => t.trim()).filter(Boolean))
    .default([]),
  /** How often the agent probes /readyz: a failing replica leaves clients' picks within about one interval. */
  RAG_CONSUL_CHECK_INTERVAL: duration.default("1s"),
  RAG_CONSUL_CHECK_TIMEOUT: duration.default("1s"),
  /** Consul's floor is 1m (and it reaps every 30 s), so a crashed replica lingers about that long. */
  RAG_CONSUL_DEREGISTER_AFTER: duration.default("1m"),
  RAG_CONSUL_WAIT: duration.default("30s"),
  RAG_CONSUL_DEBOUNCE_MS: z.coerce.number().int().min(0).max(10_000).default(100),
};

export const consulEnvSchema = z.object(consulEnvShape);
export type ConsulEnv = z.infer<typeof consulEnvSchema>;

/** Checks the variables against each other and builds the settings; throws ConfigError naming them. */
export function consulSettings(env: ConsulEnv): ConsulSettings {
  const problems: string[] = [];
  const address = env.CONSUL_HTTP_ADDR;
  if (address.scheme === "http" && env.CONSUL_HTTP_SSL === true) {
    problems.push("CONSUL_HTTP_SSL: true, but CONSUL_HTTP_ADDR says http://; use https://host:port or drop one of them");
  }
  const scheme = address.scheme ?? (env.CONSUL_HTTP_SSL ? "https" : "http");
  const tlsFiles = (["CONSUL_CACERT", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY"] as const).filter((k) => env[k] !== undefined);
  if (scheme === "http" && tlsFiles.length > 0) {
    problems.push(`${tlsFiles.join(", ")}: set, but the agent is reached over plain http; set CONSUL_HTTP_ADDR=https://host:8501 or CONSUL_HTTP_SSL=true`);
  }
  if ((env.CONSUL_CLIENT_CERT === undefined) !== (env.CONSUL_CLIENT_KEY === undefined)) {
    problems.push("CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY: a client certificate needs its key, and the key its certificate; set both or neither");
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const tls =
    scheme === "https"
      ? { ca: env.CONSUL_CACERT, cert: env.CONSUL_CLIENT_CERT, key: env.CONSUL_CLIENT_KEY, serverName: env.CONSUL_TLS_SERVER_NAME }
      : undefined;
  return {
    agent: {
      scheme,
      host: address.host,
      // The CLI's defaults: 8500 for http, 8501 for https.
      port: address.port ?? (scheme === "https" ? 8501 : 8500),
      token: env.CONSUL_HTTP_TOKEN,
      tls,
    },
    registration: {
      advertiseAddress: env.RAG_ADVERTISE_ADDRESS,
      tags: env.RAG_CONSUL_TAGS,
      checkInterval: env.RAG_CONSUL_CHECK_INTERVAL,
      checkTimeout: env.RAG_CONSUL_CHECK_TIMEOUT,
      deregisterCriticalServiceAfter: env.RAG_CONSUL_DEREGISTER_AFTER,
    },
    watch: { wait: env.RAG_CONSUL_WAIT, debounceMs: env.RAG_CONSUL_DEBOUNCE_MS },
  };
}

/** Parses the Consul variables on their own (tests, tools); services merge `consulEnvShape` instead. */
export function parseConsulSettings(env: NodeJS.ProcessEnv): ConsulSettings {
  return consulSettings(parseEnv(consulEnvSchema, env));
}

/** `http://127.0.0.1:8500`: how the agent is named in logs and errors. */
export function agentUrl(agent: ConsulAgentSettings): string {
  const host = isIP(agent.host) === 6 ? `[${agent.host}]` : agent.host;
  return `${agent.scheme}://${host}:${agent.port}`;
}

/**
 * A client of the `consul` package for these settings. Keep-alive sockets, so the blocking queries of the
 * resolver and the registration share connections; close it with `destroy()`.
 */
export function consulClient(agent: ConsulAgentSettings): Consul {
  const httpAgent =
    agent.scheme === "https"
      ? new HttpsAgent({ keepAlive: true, ca: agent.tls?.ca, cert: agent.tls?.cert, key: agent.tls?.key, servername: agent.tls?.serverName })
      : new HttpAgent({ keepAlive: true });
  return new Consul({
    host: agent.host.includes(":") ? `[${agent.host}]` : agent.host,
    port: agent.port,
    secure: agent.scheme === "https",
    agent: httpAgent,
    defaults: agent.token === undefined ? undefined : { token: agent.token },
  });
}
