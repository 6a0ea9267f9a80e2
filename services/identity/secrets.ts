import { randomBytes, scrypt, timingSafeEqual, type BinaryLike, type ScryptOptions } from "node:crypto";

/**
 * API key secrets: `rag_<prefix>_<secret>`. The prefix (12 hex characters) is stored in clear to find the
 * key; the secret part is stored only as a salted scrypt hash (per-key salt) and compared in constant time.
 */
const FORMAT = /^rag_([0-9a-f]{12})_([A-Za-z0-9_-]{20,200})$/;

export const API_KEY_FORMAT_HINT = 'rag_<12 hex characters>_<at least 20 characters of A-Z a-z 0-9 "_" "-">';

export interface ParsedApiKey {
  prefix: string;
  secret: string;
}

export function parseApiKey(value: string): ParsedApiKey | undefined {
  const m = FORMAT.exec(value.trim());
  return m ? { prefix: m[1]!, secret: m[2]! } : undefined;
}

export function generateApiKey(): { full: string } & ParsedApiKey {
  const prefix = randomBytes(6).toString("hex");
  const secret = randomBytes(24).toString("base64url");
  return { full: `rag_${prefix}_${secret}`, prefix, secret };
}

// N=2^14 (about 20-50 ms): API keys are long random strings, so the hash guards a leaked table, not guessing.
const SCRYPT: ScryptOptions = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;

function derive(secret: BinaryLike, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(secret, salt, KEY_LENGTH, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))));
}

/** "scrypt$<salt b64url>$<hash b64url>" */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString("base64url")}$${(await derive(secret, salt)).toString("base64url")}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const actual = await derive(secret, Buffer.from(salt, "base64url"));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
