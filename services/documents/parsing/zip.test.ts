import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { makeDocx } from "#testing/document-files.js";
import { DEFAULT_LIMITS, type ParseLimits } from "./limits.js";
import { UnreadableDocument } from "./unreadable.js";
import { openZip } from "./zip.js";
import { bombDocx, makeZip, plainDocx, textEntry } from "./zip-fixtures.js";

const MB = 1024 * 1024;
const limits = (over: Partial<ParseLimits> = {}): ParseLimits => ({ ...DEFAULT_LIMITS, ...over });

async function refusal(p: Promise<unknown>, problem: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof UnreadableDocument, `expected a refusal, got ${String(err)}`);
    assert.match(err.problem, problem);
    return true;
  });
}

describe("zip inspection", () => {
  test("a real .docx: its directory is read, entries inflate on demand and are counted", async () => {
    const zip = await openZip(await makeDocx([{ text: "Hello zip." }]), DEFAULT_LIMITS);
    try {
      assert.ok(zip.entries > 3 && zip.entries < 50);
      assert.ok(zip.declaredBytes > 0);
      assert.equal(zip.inflatedBytes, 0, "nothing inflates to read the directory");
      assert.ok(zip.exists("word/document.xml"));
      assert.ok(!zip.exists("word/missing.xml"));
      const xml = await zip.read("word/document.xml", "utf-8");
      assert.match(xml as string, /Hello zip\./);
      assert.equal(zip.inflatedBytes, Buffer.byteLength(xml as string));
      assert.ok((await zip.read("word/document.xml")) instanceof Uint8Array);
      assert.equal(await zip.read("[Content_Types].xml", "base64"), Buffer.from(await zip.read("[Content_Types].xml", "utf-8") as string).toString("base64"));
    } finally {
      zip.close();
    }
  });

  test("a zip bomb is refused from its directory, before anything inflates, naming the limit", async () => {
    const bomb = await bombDocx(300 * MB);
    assert.ok(bomb.length < 2 * MB, `the bomb is small (${bomb.length} bytes)`);
    await refusal(openZip(bomb, DEFAULT_LIMITS), /^its archive declares at least \d+ bytes uncompressed, which exceeds the limit of 52428800 bytes \(PARSE_MAX_EXPANDED_BYTES\)$/);
  });

  test("an entry compressed far better than real documents are is refused by its ratio", async () => {
    const bomb = await bombDocx(4 * MB); // well under the size limit, at about 1000:1
    await refusal(openZip(bomb, DEFAULT_LIMITS), /^the compression ratio of "word\/document\.xml" \(\d+:1\) exceeds the limit of 200 : 1 \(PARSE_MAX_COMPRESSION_RATIO\)$/);
    const zip = await openZip(bomb, limits({ maxCompressionRatio: 5_000 }));
    zip.close();
  });

  test("too many entries are refused before any entry is read", async () => {
    const many = await makeZip(Array.from({ length: 12 }, (_, i) => textEntry(`part${i}.xml`, "<x/>")));
    await refusal(openZip(many, limits({ maxZipEntries: 10 })), /^its archive has 12 entries, which exceeds the limit of 10 entries \(PARSE_MAX_ZIP_ENTRIES\)$/);
    (await openZip(many, limits({ maxZipEntries: 12 }))).close();
  });

  test("an archive that understates a size is stopped at the size it declares, not inflated to the end", async () => {
    const liar = await bombDocx(300 * MB, { declaredSize: 1_000 });
    const zip = await openZip(liar, DEFAULT_LIMITS);
    try {
      assert.ok(zip.declaredBytes < 10_000, "the directory looks harmless");
      await refusal(zip.read("word/document.xml", "utf-8"), /^is not a readable \.docx file \("word\/document\.xml": an entry's size differs from the size its archive declares\)$/);
      assert.ok(zip.inflatedBytes < 2 * MB, `inflation stopped early (${zip.inflatedBytes} bytes)`);
    } finally {
      zip.close();
    }
  });

  test("actual inflated bytes are bounded across entries even when every declaration is honest", async () => {
    const docx = await plainDocx(["x".repeat(200_000)]);
    const zip = await openZip(docx, limits({ maxExpandedBytes: 250_000 }));
    try {
      await zip.read("word/document.xml", "utf-8");
      // The limit counts reads: reading the same entry again passes the limit.
      await refusal(zip.read("word/document.xml", "utf-8"), /^its archive inflates to more than 250000 bytes, which exceeds the limit of 250000 bytes \(PARSE_MAX_EXPANDED_BYTES\)$/);
    } finally {
      zip.close();
    }
  });

  test("what is not a zip says so", async () => {
    await refusal(openZip(Buffer.from("just text"), DEFAULT_LIMITS), /^is not a readable \.docx file \(not a zip archive\)$/);
  });
});
