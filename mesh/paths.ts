import { fileURLToPath } from "node:url";

/** The contracts folder; reflection and the client's retry policy read the .proto files from it. */
export const PROTO_ROOT = fileURLToPath(new URL("../proto", import.meta.url));
