import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { BlockList, isIP } from "node:net";

/** Loopback, private, link-local, CGNAT, multicast and reserved ranges: nothing a public webhook lives on. */
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

export class EgressRefusedError extends Error {
  override name = "EgressRefusedError";
}

export function isInternalAddress(address: string): boolean {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4mapped) return internal.check(v4mapped[1]!, "ipv4");
  return internal.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");
}

function refusal(host: string, address: string): EgressRefusedError {
  return new EgressRefusedError(`${host} resolves to internal address ${address}; deliveries there are refused (NOTIFICATIONS_ALLOW_PRIVATE)`);
}

/** Throws for an IP-literal host that is internal (the socket skips the lookup for those). */
export function checkLiteralHost(hostname: string): void {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) && isInternalAddress(host)) throw refusal(host, host);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that refuses names resolving to an internal address. The socket connects to
 * the very addresses checked here, so a DNS answer that changes between check and connect (rebinding) does
 * not get through.
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isInternalAddress(a.address));
    if (bad) return callback(refusal(hostname, bad.address) as NodeJS.ErrnoException, []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), []);
    callback(null, first.address, first.family);
  });
}
