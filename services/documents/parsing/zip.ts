import yauzl from "yauzl";
import { LimitExceeded, type ParseLimits } from "./limits.js";
import { UnreadableDocument } from "./unreadable.js";

/*
 * A .docx is a zip archive, and a zip states in its central directory what each entry inflates to. That
 * directory is read first (yauzl: nothing is inflated to read it) and the archive refused when it declares
 * too many entries, too many bytes in all, or an entry compressed suspiciously well. Declared sizes can
 * lie, so inflating counts real bytes too: yauzl stops an entry at its declared size, and the total across
 * entries stops at the limit. mammoth then reads entries through this archive instead of inflating the
 * whole file with JSZip, so nothing it reads can expand past the limits.
 */

/** Entries smaller than this are not held to the compression ratio: tiny files compress oddly. */
const RATIO_FLOOR_BYTES = 1024 * 1024;

export interface ZipSummary {
  entries: number;
  /** Sum of the uncompressed sizes the central directory declares. */
  declaredBytes: number;
}

/** An archive whose directory passed the limits; entries inflate on demand, within the same limits. */
export interface BoundedZip extends ZipSummary {
  exists(name: string): boolean;
  /** Bytes, or text in `encoding` ("base64" or a TextDecoder label), as mammoth's zip interface reads. */
  read(name: string, encoding?: string): Promise<Uint8Array | string>;
  /** Bytes actually inflated so far. */
  readonly inflatedBytes: number;
  close(): void;
}

export async function openZip(content: Buffer, limits: ParseLimits): Promise<BoundedZip> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(content, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true, strictFileNames: false });
  } catch (err) {
    throw new UnreadableDocument(`is not a readable .docx file (${zipProblem(err)})`);
  }
  try {
    // The count is in the end-of-central-directory record: checked before a single entry is read.
    if (zip.entryCount > limits.maxZipEntries) {
      throw new LimitExceeded(`its archive has ${zip.entryCount} entries, which`, limits, "maxZipEntries", "entries");
    }
    const entries = new Map<string, yauzl.Entry>();
    let declaredBytes = 0;
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) {
      declaredBytes += entry.uncompressedSize;
      if (declaredBytes > limits.maxExpandedBytes) {
        throw new LimitExceeded(`its archive declares at least ${declaredBytes} bytes uncompressed, which`, limits, "maxExpandedBytes", "bytes");
      }
      const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
      if (entry.uncompressedSize > RATIO_FLOOR_BYTES && ratio > limits.maxCompressionRatio) {
        throw new LimitExceeded(`the compression ratio of ${JSON.stringify(entry.fileName)} (${Math.round(ratio)}:1)`, limits, "maxCompressionRatio", ": 1");
      }
      if (!entry.fileName.endsWith("/")) entries.set(entry.fileName, entry);
    }
    return boundedZip(zip, entries, declaredBytes, limits);
  } catch (err) {
    zip.close();
    if (err instanceof UnreadableDocument) throw err;
    throw new UnreadableDocument(`is not a readable .docx file (${zipProblem(err)})`);
  }
}

function boundedZip(zip: yauzl.ZipFile, entries: Map<string, yauzl.Entry>, declaredBytes: number, limits: ParseLimits): BoundedZip {
  let inflatedBytes = 0;
  const inflate = async (entry: yauzl.Entry): Promise<Buffer> => {
    const stream = await zip.openReadStreamPromise(entry);
    const parts: Buffer[] = [];
    try {
      for await (const part of stream as AsyncIterable<Buffer>) {
        inflatedBytes += part.length;
        // Stops at the first chunk over: the rest is never inflated.
        if (inflatedBytes > limits.maxExpandedBytes) {
          throw new LimitExceeded(`its archive inflates to more than ${limits.maxExpandedBytes} bytes, which`, limits, "maxExpandedBytes", "bytes");
        }
        parts.push(part);
      }
    } finally {
      stream.destroy();
    }
    return Buffer.concat(parts);
  };
  return {
    entries: entries.size,
    declaredBytes,
    get inflatedBytes() {
      return inflatedBytes;
    },
    exists: (name) => entries.has(name),
    async read(name, encoding) {
      const entry = entries.get(name);
      if (!entry) throw new UnreadableDocument(`is not a readable .docx file (it has no ${JSON.stringify(name)})`);
      let bytes: Buffer;
      try {
        bytes = await inflate(entry);
      } catch (err) {
        if (err instanceof UnreadableDocument) throw err;
        throw new UnreadableDocument(`is not a readable .docx file (${JSON.stringify(name)}: ${zipProblem(err)})`);
      }
      if (encoding === "base64") return bytes.toString("base64");
      return encoding ? new TextDecoder(encoding).decode(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    },
    close: () => zip.close(),
  };
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off("entry", onEntry);
      zip.off("end", onEnd);
      zip.off("error", onError);
    };
    const onEntry = (entry: yauzl.Entry) => (cleanup(), resolve(entry));
    const onEnd = () => (cleanup(), resolve(undefined));
    const onError = (err: Error) => (cleanup(), reject(err));
    zip.on("entry", onEntry).on("end", onEnd).on("error", onError);
    zip.readEntry();
  });
}

/** yauzl's message, shortened to what a caller can act on. */
function zipProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/end of central directory record signature not found/i.test(message)) return "not a zip archive";
  // "too many bytes in the stream": an entry inflates past the size its directory declares.
  if (/too many bytes|too few bytes/i.test(message)) return "an entry's size differs from the size its archive declares";
  return message.split("\n")[0]!.slice(0, 200);
}
