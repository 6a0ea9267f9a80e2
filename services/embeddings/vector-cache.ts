import { createHash } from "node:crypto";
import type { Cache } from "#mesh/cache.js";
import type { InputType } from "./providers/provider.js";

/** Everything besides the text that decides a vector. */
export interface VectorScope {
  /** Entries are kept per tenant: a shared hit would tell one tenant that another embedded the same text. */
  tenant: string;
  provider: string;
  model: string;
  dimensions: number;
  /** Only for providers whose vectors depend on it. */
  inputType?: InputType;
}

/**
 * Vectors cached by (tenant, provider, model, dimensions, input type, sha256(text)), stored as base64 of
 * their float32 bytes (little-endian on every platform Node runs on): exact, and a third the size of JSON.
 * A Cache failure is a miss, so this never fails a call.
 */
export class VectorCache {
  constructor(
    private readonly cache: Cache | undefined,
    private readonly ttlMs: number,
  ) {}

  get enabled(): boolean {
    return this.cache !== undefined && this.ttlMs > 0;
  }

  key(scope: VectorScope, text: string): string {
    const digest = createHash("sha256").update(text).digest("hex");
    return [scope.tenant, scope.provider, encodeURIComponent(scope.model), scope.dimensions, scope.inputType ?? "any", digest].join(":");
  }

  /** The cached vector of each key, if present and of the expected length. */
  async getMany(keys: string[], dimensions: number): Promise<(Float32Array | undefined)[]> {
    if (!this.enabled || keys.length === 0) return keys.map(() => undefined);
    const raw = await this.cache!.getMany(keys);
    return raw.map((value) => {
      if (value === undefined) return undefined;
      const vector = decode(value);
      return vector.length === dimensions ? vector : undefined;
    });
  }

  async setMany(entries: [key: string, vector: Float32Array][]): Promise<void> {
    if (!this.enabled || entries.length === 0) return;
    await this.cache!.setMany(entries.map(([k, v]) => [k, encode(v)]), this.ttlMs);
  }

  async close(): Promise<void> {
    await this.cache?.close();
  }
}

function encode(vector: Float32Array): string {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64");
}

function decode(value: string): Float32Array {
  const bytes = Buffer.from(value, "base64");
  if (bytes.length % 4 !== 0) return new Float32Array(0);
  // Copy into a fresh buffer: Buffer's pooled memory need not be 4-byte aligned.
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
