// Holds gateway/envoy/envoy.yaml and gateway/kong/kong.yml against the contracts: the google.api.http
// annotations in gen/rag.binpb and the ports in mesh/catalogue.ts. No Envoy or Kong runs here; this reads
// both configurations the way the proxies would route a request and checks:
//   - every annotated RPC is exposed, through the service that defines it, at the right cluster/port;
//   - nothing points at a service or method the descriptor set does not have;
//   - the internal RPCs (no annotation) cannot be reached;
//   - authentication covers everything but the public calls (JWKS, token exchange), and Envoy fetches
//     the JWKS from the path identity.proto annotates.
// Run: LOG_LEVEL=error node --import tsx --test tests/gateway-configs.test.ts
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { parse } from "yaml";
import { createFileRegistry, fromBinary, getOption, hasOption } from "@bufbuild/protobuf";
import type { DescExtension } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

import { CATALOGUE, SERVICE_NAMES, type ServiceName } from "../mesh/catalogue.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** REST calls that need no access token: the key set that verifies tokens, and the exchange that issues them. */
const PUBLIC_RPCS = new Set(["rag.v1.IdentityService/GetJwks", "rag.v1.IdentityService/IssueToken"]);

interface Rpc {
  /** "rag.v1.DocumentsService/GetDocument" */
  name: string;
  /** Catalogue name of the service that defines it. */
  service: ServiceName;
  grpcPath: string;
  streaming: boolean;
  /** Only for annotated RPCs. */
  rest?: { verb: string; template: string };
}

function loadRpcs(): Rpc[] {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(join(root, "gen", "rag.binpb")));
  const registry = createFileRegistry(set);
  const http = registry.getExtension("google.api.http") as DescExtension | undefined;
  assert.ok(http, "gen/rag.binpb lacks google.api.http");
  const byGrpcService = new Map(SERVICE_NAMES.map((n) => [CATALOGUE[n].grpcService, n]));
  const rpcs: Rpc[] = [];
  for (const file of registry.files) {
    for (const service of file.services) {
      if (!service.typeName.startsWith("rag.v1.")) continue;
      const owner = byGrpcService.get(service.typeName);
      assert.ok(owner, `${service.typeName} is not in mesh/catalogue.ts`);
      for (const method of service.methods) {
        const name = `${service.typeName}/${method.name}`;
        const rpc: Rpc = { name, service: owner, grpcPath: `/${name}`, streaming: method.methodKind === "server_streaming" };
        if (hasOption(method, http)) {
          const rule = getOption(method, http) as { pattern: { case: string | undefined; value?: unknown } };
          rpc.rest = { verb: rule.pattern.case ?? "", template: String(rule.pattern.value ?? "") };
        }
        rpcs.push(rpc);
      }
    }
  }
  return rpcs;
}

const RPCS = loadRpcs();
const ANNOTATED = RPCS.filter((r) => r.rest);
const INTERNAL = RPCS.filter((r) => !r.rest);
const RPC_PATHS = new Set(RPCS.map((r) => r.grpcPath));
const GRPC_SERVICES = new Set(SERVICE_NAMES.map((n) => CATALOGUE[n].grpcService));

/** A concrete request path for a template: every {var} (or {var=pattern}) becomes a sample segment. */
const samplePath = (template: string): string => template.replace(/\{[^}]+\}/g, "sample-1");

function readYaml(relative: string): any {
  return parse(readFileSync(join(root, relative), "utf8"));
}

test("the descriptor set has annotated and internal RPCs to check", () => {
  assert.ok(ANNOTATED.length > 30, `only ${ANNOTATED.length} annotated RPCs`);
  assert.deepEqual(INTERNAL.map((r) => r.name).sort(), [
    "rag.v1.DocumentsService/UpdateDocumentStatus",
    "rag.v1.IdentityService/Authenticate",
    "rag.v1.IdentityService/RecordQuery",
    "rag.v1.IdentityService/WatchRevocations",
    "rag.v1.NotificationsService/Publish",
  ]);
});

describe("Envoy (gateway/envoy/envoy.yaml)", () => {
  const config = readYaml("gateway/envoy/envoy.yaml");
  const listener = config.static_resources.listeners[0];
  const hcm = listener.filter_chains[0].filters.find((f: any) => f.name === "envoy.filters.network.http_connection_manager").typed_config;
  const routes: any[] = hcm.route_config.virtual_hosts.flatMap((v: any) => v.routes);
  const filters: any[] = hcm.http_filters;
  const filter = (name: string): any => {
    const f = filters.find((x) => x.name === name);
    assert.ok(f, `http filter ${name} is missing`);
    return f.typed_config;
  };
  const clusters = new Map<string, any>(config.static_resources.clusters.map((c: any) => [c.name, c]));
  const endpointOf = (cluster: any): { address: string; port_value: number } =>
    cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;

  /** The route Envoy picks for a path: the first whose match applies (path is exact, prefix is a prefix). */
  const routeFor = (path: string): any =>
    routes.find((r) => (r.match.path !== undefined ? r.match.path === path : path.startsWith(r.match.prefix)));

  test("the transcoder reads rag.binpb and lists exactly the services with REST routes", () => {
    const t = filter("envoy.filters.http.grpc_json_transcoder");
    assert.match(t.proto_descriptor, /\/rag\.binpb$/);
    const want = [...new Set(ANNOTATED.map((r) => CATALOGUE[r.service].grpcService))].sort();
    assert.deepEqual([...t.services].sort(), want);
    assert.equal(t.auto_mapping, false, "auto_mapping would expose every method by its gRPC path");
    assert.equal(t.convert_grpc_status, true);
    assert.equal(t.request_validation_options?.reject_unknown_method, true);
    assert.equal(t.print_options?.preserve_proto_field_names, false, "JSON names are proto3 camelCase, like the Node gateway");
    assert.equal(t.print_options?.stream_sse_style_delimited, true);
  });

  test("filters run header stripping, JWT, rate limit, transcoder, router in that order", () => {
    const order = filters.map((f) => f.name);
    assert.deepEqual(order, [
      "envoy.filters.http.header_mutation",
      "envoy.filters.http.jwt_authn",
      "envoy.filters.http.local_ratelimit",
      "envoy.filters.http.grpc_json_transcoder",
      "envoy.filters.http.router",
    ]);
    const removed = filter("envoy.filters.http.header_mutation").mutations.request_mutations.map((m: any) => m.remove);
    assert.deepEqual(removed.sort(), ["x-caller-id", "x-tenant-id"]);
    const bucket = filter("envoy.filters.http.local_ratelimit").token_bucket;
    assert.ok(bucket.max_tokens > 0 && bucket.fill_interval);
  });

  test("every annotated RPC routes to the cluster of its own service", () => {
    const problems: string[] = [];
    for (const rpc of ANNOTATED) {
      const route = routeFor(rpc.grpcPath);
      if (!route?.route) problems.push(`${rpc.name}: no route forwards it (got ${route?.name ?? "none"})`);
      else if (route.route.cluster !== rpc.service) problems.push(`${rpc.name}: routed to ${route.route.cluster}, expected ${rpc.service}`);
      else if (rpc.streaming && route.route.timeout !== "0s") problems.push(`${rpc.name}: streaming route needs timeout 0s, has ${route.route.timeout}`);
    }
    assert.deepEqual(problems, []);
  });

  test("internal RPCs hit a 404 direct_response before any forwarding route", () => {
    for (const rpc of INTERNAL) {
      const route = routeFor(rpc.grpcPath);
      assert.equal(route?.direct_response?.status, 404, `${rpc.name} is reachable through Envoy (route ${route?.name})`);
    }
  });

  test("routes only name services and methods that exist, and clusters that exist", () => {
    const problems: string[] = [];
    for (const r of routes) {
      const target: string = r.match.path ?? r.match.prefix;
      if (target.startsWith("/rag.")) {
        const known = r.match.path !== undefined ? RPC_PATHS.has(target) : GRPC_SERVICES.has(target.slice(1, -1)) && target.endsWith("/");
        if (!known) problems.push(`route ${r.name}: ${target} is not in the descriptor set`);
      }
      if (r.route && !clusters.has(r.route.cluster)) problems.push(`route ${r.name}: cluster ${r.route.cluster} does not exist`);
      if (!r.route && !r.direct_response) problems.push(`route ${r.name}: neither route nor direct_response`);
    }
    assert.deepEqual(problems, []);
  });

  test("service clusters speak HTTP/2 to <name>.rag.svc.cluster.local at the catalogue port", () => {
    const problems: string[] = [];
    for (const name of SERVICE_NAMES) {
      const cluster = clusters.get(name);
      if (!cluster) {
        problems.push(`cluster ${name} is missing`);
        continue;
      }
      const options = cluster.typed_extension_protocol_options?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
      if (!options?.explicit_http_config?.http2_protocol_options) problems.push(`cluster ${name} is not HTTP/2`);
      const { address, port_value } = endpointOf(cluster);
      if (address !== `${name}.rag.svc.cluster.local`) problems.push(`cluster ${name}: address ${address}`);
      if (port_value !== CATALOGUE[name].grpcPort) problems.push(`cluster ${name}: port ${port_value}, catalogue says ${CATALOGUE[name].grpcPort}`);
    }
    assert.deepEqual(problems, []);
  });

  test("JWT: identity's issuer and audience, JWKS fetched from the path identity.proto annotates", () => {
    const jwt = filter("envoy.filters.http.jwt_authn");
    const providers = Object.entries(jwt.providers) as [string, any][];
    assert.equal(providers.length, 1);
    const [providerName, provider] = providers[0]!;
    assert.equal(provider.issuer, "rag-identity");
    assert.deepEqual(provider.audiences, ["rag-api"]);

    const getJwks = ANNOTATED.find((r) => r.name === "rag.v1.IdentityService/GetJwks")!;
    const uri = new URL(provider.remote_jwks.http_uri.uri);
    assert.equal(uri.pathname, getJwks.rest!.template);
    // identity answers gRPC only, so the fetch goes through this listener, which transcodes it to identity.
    const jwksCluster = clusters.get(provider.remote_jwks.http_uri.cluster);
    assert.ok(jwksCluster, `JWKS cluster ${provider.remote_jwks.http_uri.cluster} does not exist`);
    const { address, port_value } = endpointOf(jwksCluster);
    assert.equal(address, uri.hostname);
    assert.equal(Number(uri.port), port_value);
    assert.equal(port_value, listener.address.socket_address.port_value, "JWKS cluster must be this listener");
    assert.equal(routeFor(getJwks.grpcPath)?.route?.cluster, "identity");

    // Rules match the REST path as sent (jwt_authn runs before the transcoder); the first match wins.
    const ruleFor = (path: string): any =>
      jwt.rules.find((r: any) => (r.match.path !== undefined ? r.match.path === path : path.startsWith(r.match.prefix)));
    const problems: string[] = [];
    for (const rpc of ANNOTATED) {
      const rule = ruleFor(samplePath(rpc.rest!.template));
      const requires = rule?.requires?.provider_name;
      if (PUBLIC_RPCS.has(rpc.name) && requires) problems.push(`${rpc.name} is public but requires a token`);
      if (!PUBLIC_RPCS.has(rpc.name) && requires !== providerName) problems.push(`${rpc.name} does not require a token`);
    }
    if (ruleFor("/healthz")?.requires) problems.push("/healthz requires a token");
    if (ruleFor("/rag.v1.DocumentsService/GetDocument")?.requires?.provider_name !== providerName) problems.push("raw gRPC calls skip JWT");
    assert.deepEqual(problems, []);
    assert.deepEqual(provider.claim_to_headers.map((c: any) => `${c.claim_name}->${c.header_name}`).sort(), ["sub->x-caller-id", "tid->x-tenant-id"]);
  });

  test("/healthz answers without a backend", () => {
    assert.equal(routeFor("/healthz")?.direct_response?.status, 200);
  });
});

describe("Kong (gateway/kong/kong.yml)", () => {
  const config = readYaml("gateway/kong/kong.yml");
  const services: any[] = config.services;
  const KONG_INCLUDE = "/usr/local/kong/include/";

  /**
   * Kong 3.x path semantics: "~..." is a regex anchored at the start of the path (we anchor the end
   * ourselves with $); anything else is a plain prefix.
   */
  const pathMatches = (kongPath: string, path: string): boolean =>
    kongPath.startsWith("~") ? new RegExp(`^(?:${kongPath.slice(1)})`).test(path) : path.startsWith(kongPath);
  const routes = services.flatMap((s) => (s.routes ?? []).map((r: any) => ({ ...r, service: s.name as string })));
  const routesFor = (path: string): any[] => routes.filter((r) => (r.paths ?? []).some((p: string) => pathMatches(p, path)));

  test("_format_version 3.0, one grpc service per catalogue entry at its DNS name and port", () => {
    assert.equal(config._format_version, "3.0");
    assert.deepEqual(services.map((s) => s.name).sort(), [...SERVICE_NAMES].sort());
    const problems: string[] = [];
    for (const s of services) {
      const entry = CATALOGUE[s.name as ServiceName];
      if (s.protocol !== "grpc") problems.push(`${s.name}: protocol ${s.protocol}`);
      if (s.host !== `${s.name}.rag.svc.cluster.local`) problems.push(`${s.name}: host ${s.host}`);
      if (s.port !== entry.grpcPort) problems.push(`${s.name}: port ${s.port}, catalogue says ${entry.grpcPort}`);
    }
    assert.deepEqual(problems, []);
  });

  test("every service transcodes with grpc-gateway from its own proto, mounted under Kong's include dir", () => {
    const problems: string[] = [];
    for (const s of services) {
      const plugin = (s.plugins ?? []).find((p: any) => p.name === "grpc-gateway");
      const proto: string | undefined = plugin?.config?.proto;
      if (!proto?.startsWith(KONG_INCLUDE)) {
        problems.push(`${s.name}: grpc-gateway proto ${proto} is not under ${KONG_INCLUDE}`);
        continue;
      }
      const relative = proto.slice(KONG_INCLUDE.length);
      if (!existsSync(join(root, "proto", relative))) problems.push(`${s.name}: proto/${relative} does not exist`);
      if (relative !== CATALOGUE[s.name as ServiceName].protoFile) problems.push(`${s.name}: proto ${relative}, catalogue says ${CATALOGUE[s.name as ServiceName].protoFile}`);
    }
    assert.deepEqual(problems, []);
  });

  test("every annotated RPC's REST path is matched by a route of its own service, and only of it", () => {
    const problems: string[] = [];
    for (const rpc of ANNOTATED) {
      const path = samplePath(rpc.rest!.template);
      const owners = [...new Set(routesFor(path).map((r) => r.service))];
      if (owners.length === 0) problems.push(`${rpc.name}: no route matches ${path}`);
      else if (owners.length > 1 || owners[0] !== rpc.service) problems.push(`${rpc.name}: ${path} is matched by ${owners.join(", ")}`);
    }
    assert.deepEqual(problems, []);
  });

  test("no route path serves anything but its service's annotated REST paths; no raw gRPC routes", () => {
    const problems: string[] = [];
    for (const r of routes) {
      const protocols: string[] = r.protocols ?? ["http", "https"];
      if (protocols.some((p) => p.startsWith("grpc"))) problems.push(`route ${r.name} exposes raw gRPC (internal RPCs would be reachable)`);
      if (r.strip_path !== false) problems.push(`route ${r.name}: strip_path must be false`);
      for (const p of r.paths ?? []) {
        const own = ANNOTATED.filter((rpc) => rpc.service === r.service && pathMatches(p, samplePath(rpc.rest!.template)));
        if (own.length === 0) problems.push(`route ${r.name}: ${p} matches no annotated REST path of ${r.service}`);
      }
      for (const rpc of INTERNAL) {
        if ((r.paths ?? []).some((p: string) => pathMatches(p, rpc.grpcPath))) problems.push(`route ${r.name} matches ${rpc.grpcPath}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test("JWT on every route except the public calls; rate limiting and prometheus are global", () => {
    const problems: string[] = [];
    for (const rpc of ANNOTATED) {
      for (const r of routesFor(samplePath(rpc.rest!.template))) {
        const jwt = (r.plugins ?? []).some((p: any) => p.name === "jwt");
        if (PUBLIC_RPCS.has(rpc.name) && jwt) problems.push(`${rpc.name} is public but route ${r.name} requires a token`);
        if (!PUBLIC_RPCS.has(rpc.name) && !jwt) problems.push(`${rpc.name}: route ${r.name} has no jwt plugin`);
      }
    }
    assert.deepEqual(problems, []);
    const global = new Map<string, any>(config.plugins.map((p: any) => [p.name, p.config]));
    assert.ok(global.has("prometheus"));
    const limit = global.get("rate-limiting");
    assert.ok(limit && (limit.minute > 0 || limit.hour > 0) && limit.policy === "local");
    const issuer = config.consumers.flatMap((c: any) => c.jwt_secrets ?? []).map((s: any) => s.key);
    assert.deepEqual(issuer, ["rag-identity"], "the jwt credential is keyed by the token issuer (iss)");
  });
});
