import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";

/** Loopback, private, link-local, CGNAT, multicast and reserved ranges: nothing a public endpoint lives on. */
const INTERNAL_RANGES = [
  "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
  "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
  "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96",
];
const internal = new BlockList();
for (const cidr of INTERNAL_RANGES) {
  const [net, bits] = cidr.split("/") as [string, string];
  internal.addSubnet(net, Number(bits), isIP(net) === 6 ? "ipv6" : "ipv4");
}

/** A destination refused because it is, or resolves to, an internal address. */
export class EgressRefusedError extends Error {
  override name = "EgressRefusedError";
  constructor(readonly host: string, readonly address: string, refusal: string) {
    super(`${host === address ? `${host} is an internal address` : `${host} resolves to internal address ${address}`}; ${refusal}`);
  }
}

export function isInternalAddress(address: string): boolean {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4mapped) return internal.check(v4mapped[1]!, "ipv4");
  return internal.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");
}

/** Every address a name resolves to. */
export type Resolver = (host: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (host) => dnsLookup(host, { all: true });

export interface EgressPolicy {
  /** Let hosts that are or resolve to internal addresses through (still pinned to what was resolved). */
  allowPrivate: boolean;
  /** The caller's words for why a refusal happened, naming the setting that lifts it. */
  refusal: string;
  /** The system resolver (dns.lookup, so /etc/hosts counts) unless given; tests pass their own. */
  resolve?: Resolver;
}

/** A host and the addresses it was resolved and vetted to: the only ones a pinned connection may use. */
export interface CheckedHost {
  host: string;
  addresses: LookupAddress[];
}

/**
 * Resolves `url`'s host once and refuses it if any address is internal (unless the policy allows those).
 * Rejects with EgressRefusedError for a refusal, with an Error carrying the resolver's code when the name
 * does not resolve, and with the signal's reason when it aborts first.
 */
export async function resolveChecked(url: URL, policy: EgressPolicy, signal?: AbortSignal): Promise<CheckedHost> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!host) throw new Error(`${url.href} names no host`);
  const family = isIP(host);
  let addresses: LookupAddress[];
  if (family) addresses = [{ address: host, family }];
  else {
    try {
      addresses = await abortable((policy.resolve ?? systemResolver)(host), signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw Object.assign(new Error(`cannot resolve ${host}: ${code ?? (err as Error).message}`), { code });
    }
    if (addresses.length === 0) throw Object.assign(new Error(`cannot resolve ${host}: it has no address`), { code: "ENOTFOUND" });
  }
  if (!policy.allowPrivate) {
    const bad = addresses.find((a) => isInternalAddress(a.address));
    if (bad) throw new EgressRefusedError(host, bad.address, policy.refusal);
  }
  return { host, addresses };
}

/**
 * A socket `lookup` that answers only with the checked addresses, so the connection goes where the check
 * looked and a DNS answer that changes between check and connect (rebinding) does not get through.
 */
export function pinnedLookup(checked: CheckedHost): LookupFunction {
  return (hostname, options, callback) => {
    if (hostname.replace(/^\[|\]$/g, "") !== checked.host) {
      return callback(Object.assign(new Error(`connection to ${hostname} asked of a lookup pinned to ${checked.host}`), { code: "ENOTFOUND" }), []);
    }
    const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : (options.family ?? 0);
    const usable = checked.addresses.filter((a) => family === 0 || a.family === family);
    if (options.all) return callback(null, usable);
    const first = usable[0];
    if (!first) return callback(Object.assign(new Error(`${checked.host} has no IPv${family} address`), { code: "ENOTFOUND" }), []);
    callback(null, first.address, first.family);
  };
}

/**
 * http.request or https.request (by the URL's scheme) whose socket connects only to `checked`'s addresses.
 * TLS still verifies the certificate against the host name.
 */
export function requestPinned(url: URL, checked: CheckedHost, options: http.RequestOptions, onResponse?: (res: http.IncomingMessage) => void): http.ClientRequest {
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`only http and https requests are made, not ${url.protocol}`);
  const client = url.protocol === "https:" ? https : http;
  return client.request(url, { ...options, lookup: pinnedLookup(checked) }, onResponse);
}

/** `work`, or the signal's reason if it aborts first (the lookup itself cannot be cancelled). */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
