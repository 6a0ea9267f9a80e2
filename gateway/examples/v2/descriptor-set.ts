import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** This example's Buf module (buf.yaml, proto/rag/v2, and proto/google linked to the repo's vendored copy). */
export const V2_MODULE_DIR = fileURLToPath(new URL(".", import.meta.url));
const BUF = fileURLToPath(new URL("../../../scripts/buf", import.meta.url));

/**
 * Builds the rag.v2 descriptor set (with imports and source info, like gen/rag.binpb) into `outPath` with the
 * repo's buf. Offline: the module has no remote dependencies. Throws with buf's own message on failure.
 */
export function buildV2DescriptorSet(outPath: string): void {
  try {
    execFileSync(BUF, ["build", V2_MODULE_DIR, "--as-file-descriptor-set", "-o", outPath], { stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`scripts/buf build ${V2_MODULE_DIR} failed: ${stderr || (err as Error).message}`);
  }
}
