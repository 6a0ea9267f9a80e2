import type { JWK } from "jose";
import { PermissionDeniedError } from "../errors.js";
import { AUTHENTICATED, PUBLIC, requiredPermission } from "./permissions.js";
import type { Principal } from "./principal.js";
import { serviceToken } from "./service-token.js";
import { TokenVerifier, type KeySource, type VerifyOptions } from "./verifier.js";

export type { Principal } from "./principal.js";
export type { VerifyOptions } from "./verifier.js";
export { SERVICE_TOKEN_AT_EDGE } from "./verifier.js";
export { hasPermission, requirePermission } from "./principal.js";

/** identity's public keys over gRPC (GetJwks is public, so no token is needed to ask). */
const remoteKeys: KeySource = async () => {
  const [{ connect }, { IdentityServiceClient }] = await Promise.all([import("../client.js"), import("#gen/rag/v1/identity.js")]);
  const identity = connect(IdentityServiceClient, "identity", { auth: "none", deadlineMs: 5_000 });
  try {
    return (await identity.getJwks({})).keys.map((k) => ({ ...k }) as JWK);
  } finally {
    identity.close();
  }
};

let verifier = new TokenVerifier(remoteKeys);
let self = "client";

/** identity verifies its own tokens from its own key store instead of calling itself. */
export function setKeySource(keys: KeySource): void {
  verifier = new TokenVerifier(keys);
}

/** The name this process puts in the service tokens it mints. */
export function setServiceName(name: string): void {
  self = name;
}

/**
 * Authenticates and authorises one inbound call: `undefined` for public methods, else the verified
 * principal holding the method's permission. UNAUTHENTICATED or PERMISSION_DENIED otherwise.
 */
export async function authorizeCall(path: string, authorization: string | undefined, opts: VerifyOptions = {}): Promise<Principal | undefined> {
  const permission = requiredPermission(path);
  if (permission === PUBLIC) return undefined;
  const principal = await verifier.verify(authorization, opts);
  if (permission !== AUTHENTICATED && !principal.permissions.has(permission)) {
    const who = principal.kind === "service" ? `service ${principal.service}` : `role ${principal.roles.join(", ")}`;
    throw new PermissionDeniedError(`${path.slice(1)} requires the "${permission}" permission, which ${who} does not have`);
  }
  return principal;
}

/** The verified principal of a bearer credential, whatever it may call; UNAUTHENTICATED otherwise. */
export function authenticate(authorization: string | undefined, opts: VerifyOptions = {}): Promise<Principal> {
  return verifier.verify(authorization, opts);
}

/** `authorization` for a call this service makes for `tenantId` (and `userId`); undefined without RAG_INTERNAL_SECRET. */
export async function outboundAuthorization(tenantId: string | undefined, userId: string | undefined): Promise<string | undefined> {
  const token = await serviceToken({ service: self, tenantId, userId });
  return token ? `Bearer ${token}` : undefined;
}
