import { PermissionDeniedError } from "../errors.js";
import { AUTHENTICATED, PUBLIC, requiredPermission } from "./permissions.js";
import type { Principal } from "./principal.js";
import type { TokenVerifier, VerifyOptions } from "./verifier.js";

export type { Principal } from "./principal.js";
export type { KeySource, VerifyOptions } from "./verifier.js";
export { SERVICE_TOKEN_AT_EDGE, TokenVerifier } from "./verifier.js";
export { ServiceTokenMinter } from "./service-token.js";
export { hasPermission, requirePermission } from "./principal.js";

/**
 * Authenticates and authorises one inbound call: `undefined` for public methods, else the verified
 * principal holding the method's permission. UNAUTHENTICATED or PERMISSION_DENIED otherwise.
 */
export async function authorizeCall(verifier: TokenVerifier, path: string, authorization: string | undefined, opts: VerifyOptions = {}): Promise<Principal | undefined> {
  const permission = requiredPermission(path);
  if (permission === PUBLIC) return undefined;
  const principal = await verifier.verify(authorization, opts);
  if (permission !== AUTHENTICATED && !principal.permissions.has(permission)) {
    const who = principal.kind === "service" ? `service ${principal.service}` : `role ${principal.roles.join(", ")}`;
    throw new PermissionDeniedError(`${path.slice(1)} requires the "${permission}" permission, which ${who} does not have`);
  }
  return principal;
}
