import { randomUUID } from "node:crypto";
import { backendContract } from "../backend.contract.js";
import { QdrantBackend } from "./backend.js";

// No Qdrant server can be installed on the development machine; point QDRANT_URL at one to run this.
const url = process.env.QDRANT_URL;
const prefix = `test_${randomUUID().slice(0, 8)}_`;

backendContract(
  "qdrant",
  async () => {
    const open = () => QdrantBackend.open({ url: url!, apiKey: process.env.QDRANT_API_KEY, prefix, timeoutMs: 10_000 });
    return {
      open,
      cleanup: async () => (await open()).dropAll(),
    };
  },
  { skip: url ? undefined : "QDRANT_URL is not set" },
);
