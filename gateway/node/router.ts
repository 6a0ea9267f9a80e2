import type { HttpBinding } from "./http-rules.js";
import { compareSpecificity, compileTemplate, matchTemplate, type PathTemplate } from "./path-template.js";
import { resolveFieldPath } from "./request-message.js";

/** What the gateway tells policies (auth, rate limits) about the RPC a request was routed to. */
export interface RouteInfo {
  service: string;
  method: string;
  rpcPath: string;
  verb: string;
  template: string;
  serverStreaming: boolean;
}

export interface Route {
  info: RouteInfo;
  binding: HttpBinding;
  template: PathTemplate;
}

export type RouteLookup =
  | { kind: "found"; route: Route; variables: Map<string, string> }
  /** The path exists, but not for this verb: answer 405 with `Allow`. */
  | { kind: "wrong-verb"; allow: string[]; template: string }
  | { kind: "not-found" };

/** Every REST binding of the descriptors, matched against request paths. */
export class Router {
  readonly routes: Route[];

  constructor(bindings: HttpBinding[]) {
    this.routes = bindings.map((binding) => {
      const template = compileTemplate(binding.template);
      // A template or body naming a missing field is a broken descriptor: fail at start-up, not per request.
      const where = `${binding.service.typeName}.${binding.method.name} (${binding.verb} ${binding.template})`;
      try {
        for (const v of template.variables) resolveFieldPath(binding.method.input, v.fieldPath.join("."));
        if (binding.body !== "" && binding.body !== "*") resolveFieldPath(binding.method.input, binding.body);
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message}`);
      }
      if (binding.method.methodKind !== "unary" && binding.method.methodKind !== "server_streaming") {
        throw new Error(`${where}: ${binding.method.methodKind} RPCs cannot be served over REST`);
      }
      return {
        binding,
        template,
        info: {
          service: binding.service.typeName,
          method: binding.method.name,
          rpcPath: `/${binding.service.typeName}/${binding.method.name}`,
          verb: binding.verb,
          template: binding.template,
          serverStreaming: binding.method.methodKind === "server_streaming",
        },
      };
    });
    this.checkDuplicates();
  }

  /** `path` is the request path without its query string, still percent-encoded. */
  lookup(verb: string, path: string): RouteLookup {
    const matches: { route: Route; variables: Map<string, string> }[] = [];
    for (const route of this.routes) {
      const m = matchTemplate(route.template, path);
      if (m) matches.push({ route, variables: m.variables });
    }
    if (matches.length === 0) return { kind: "not-found" };
    const sameVerb = matches.filter((m) => m.route.info.verb === verb).sort((a, b) => compareSpecificity(a.route.template, b.route.template));
    if (sameVerb.length > 0) return { kind: "found", ...sameVerb[0] };
    matches.sort((a, b) => compareSpecificity(a.route.template, b.route.template));
    return { kind: "wrong-verb", allow: [...new Set(matches.map((m) => m.route.info.verb))].sort(), template: matches[0].route.info.template };
  }

  /** The verbs a path accepts (for CORS preflights); empty when no route matches it. */
  verbsFor(path: string): string[] {
    return [...new Set(this.routes.filter((r) => matchTemplate(r.template, path)).map((r) => r.info.verb))].sort();
  }

  /** Distinct service names the routes lead to. */
  services(): string[] {
    return [...new Set(this.routes.map((r) => r.info.service))];
  }

  private checkDuplicates(): void {
    const seen = new Map<string, string>();
    for (const r of this.routes) {
      const key = `${r.info.verb} ${r.info.template}`;
      const other = seen.get(key);
      if (other && other !== r.info.rpcPath) throw new Error(`${key} is bound to both ${other} and ${r.info.rpcPath}`);
      seen.set(key, r.info.rpcPath);
    }
  }
}
