import type { IncomingMessage } from "node:http";
import type { Admission, EdgePolicy, RouteInfo } from "../../node/gateway.js";

/** When a service's REST routes were deprecated, when they stop, and what replaces them. */
export interface DeprecationNotice {
  /** When the routes were deprecated (sent as `Deprecation: @<unix seconds>`, RFC 9745). */
  deprecatedAt: Date;
  /** When they stop being served (sent as `Sunset: <HTTP-date>`, RFC 8594). */
  sunsetAt: Date;
  /** The replacement, e.g. "/v2/query:ask" (sent as `Link: <…>; rel="successor-version"`). */
  successor: string;
}

/**
 * Wraps an edge policy (EdgeAuth in production) so that every response of a deprecated service's routes
 * carries Deprecation, Sunset and Link headers; clients and their monitoring see the end coming while v1
 * and v2 are served side by side. Refusals by the inner policy are passed through unchanged.
 */
export function announcingDeprecations(inner: EdgePolicy, notices: Readonly<Record<string, DeprecationNotice>>): EdgePolicy {
  for (const [service, n] of Object.entries(notices)) {
    for (const key of ["deprecatedAt", "sunsetAt"] as const) {
      if (!(n[key] instanceof Date) || Number.isNaN(n[key].getTime())) throw new Error(`deprecation of ${service}: ${key} must be a valid Date`);
    }
    if (n.sunsetAt < n.deprecatedAt) throw new Error(`deprecation of ${service}: sunsetAt is before deprecatedAt`);
    if (!n.successor.startsWith("/") && !/^https?:\/\//.test(n.successor)) throw new Error(`deprecation of ${service}: successor must be a path or an http(s) URL, got ${JSON.stringify(n.successor)}`);
  }
  return {
    async admit(req: IncomingMessage, route: RouteInfo, requestId: string): Promise<Admission> {
      const admission = await inner.admit(req, route, requestId);
      const notice = notices[route.service];
      if (!notice) return admission;
      return {
        ...admission,
        headers: {
          ...admission.headers,
          Deprecation: `@${Math.floor(notice.deprecatedAt.getTime() / 1000)}`,
          Sunset: notice.sunsetAt.toUTCString(),
          Link: `<${notice.successor}>; rel="successor-version"`,
        },
      };
    },
  };
}
