/**
 * Telling "the store could not be reached" from "the store refused this query". The first is UNAVAILABLE
 * (retry later, nothing wrong with the request), the second stays what it is. Without this, a Postgres
 * restart answered every call with INTERNAL "internal error" until it was back, which reads as a bug and
 * makes clients and the mesh give up instead of retrying.
 */

/** Node's socket errors: the server is not there, went away, or cannot be found. */
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EAI_AGAIN: "name lookup failed",
  ENOTFOUND: "name lookup failed",
};

/**
 * SQLSTATEs that mean the connection, not the statement, failed: class 08 (connection exception) and the
 * server going down or not yet up (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now).
 */
const CONNECTION_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/;

/** What node-postgres itself throws when a connection dies or cannot be had in time. */
const PG_CONNECTION_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated due to connection timeout/i;

/**
 * Why a store could not be reached, in words that name no address ("connection refused"), or undefined
 * when `err` is not such a failure. Looks through `cause` chains (pg wraps some errors).
 */
export function unreachableStore(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    // fetch (undici) wraps the socket error: a provider called over HTTP, not a store. Its caller decides.
    if ((e as Error).name === "TypeError" && (e as Error).message === "fetch failed") return undefined;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (NETWORK_CODES[code]) return NETWORK_CODES[code];
      if (CONNECTION_SQLSTATE.test(code) && "severity" in e) return code.startsWith("57P") ? "the database is restarting" : "the database connection failed";
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && PG_CONNECTION_MESSAGE.test(message) && !("severity" in e)) return "the database connection was lost";
  }
  return undefined;
}

/** The status message for such a failure: what is down, why, and that retrying is the remedy. */
export function unreachableStoreMessage(reason: string): string {
  return `the database this service keeps its data in is unavailable (${reason}); retry shortly`;
}
