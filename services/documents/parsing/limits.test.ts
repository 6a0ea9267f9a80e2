import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { InvalidArgumentError, RpcError } from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import { makePdf } from "#testing/document-files.js";
import { DEFAULT_LIMITS, DOCX_TYPE, parse, type ParseLimits } from "./index.js";
import { IsolatedParser } from "./isolated.js";
import { bombDocx, plainDocx } from "./zip-fixtures.js";

const MB = 1024 * 1024;
const limits = (over: Partial<ParseLimits> = {}): ParseLimits => ({ ...DEFAULT_LIMITS, ...over });
const nested = (depth: number, tag = "div") => `<${tag}>`.repeat(depth) + "deep text" + `</${tag}>`.repeat(depth);

async function refused(p: Promise<unknown>, field: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected INVALID_ARGUMENT, got ${String(err)}`);
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.equal(err.field, field);
    assert.match(err.message, message);
    return true;
  });
}

describe("parse limits", () => {
  test("a .docx zip bomb is refused naming the limit and its setting", async () => {
    const bomb = await bombDocx(300 * MB);
    await refused(parse(bomb, DOCX_TYPE, "bomb.docx"), "content", /^content: bomb\.docx: its archive declares at least \d+ bytes uncompressed, which exceeds the limit of 52428800 bytes \(PARSE_MAX_EXPANDED_BYTES\)$/);
  });

  test("a PDF with more pages than the limit is refused before its pages are read", async () => {
    const pdf = await makePdf(Array.from({ length: 4 }, (_, i) => ({ heading: `Part ${i + 1}`, paragraphs: ["Text."] })));
    await refused(parse(pdf, "application/pdf", "long.pdf", undefined, limits({ maxPdfPages: 3 })), "content", /^content: long\.pdf: its page count \(4\) exceeds the limit of 3 pages \(PARSE_MAX_PDF_PAGES\)$/);
    assert.match((await parse(pdf, "application/pdf", "long.pdf", undefined, limits({ maxPdfPages: 4 }))).text, /Part 4/);
  });

  test("a PDF's extracted text is bounded", async () => {
    const pdf = await makePdf([{ heading: "Words", paragraphs: ["word ".repeat(400)] }]);
    await refused(parse(pdf, "application/pdf", "wordy.pdf", undefined, limits({ maxTextChars: 500 })), "content", /^content: wordy\.pdf: its text \(more than \d+ characters by page 1\) exceeds the limit of 500 characters \(PARSE_MAX_TEXT_CHARS\)$/);
  });

  test("HTML nested 100,000 deep is refused without a stack overflow; nesting within the limit parses", async () => {
    await refused(parse(nested(100_000), "text/html", "deep.html"), "text", /^text: deep\.html: its HTML nesting depth exceeds the limit of 500 levels \(PARSE_MAX_HTML_DEPTH\)$/);
    await refused(parse(Buffer.from(nested(100_000, "section")), "text/html", "deep.html"), "content", /PARSE_MAX_HTML_DEPTH/);
    // Unclosed tags nest too: the tokenizer's implied ends are what count.
    await refused(parse("<span>".repeat(1_000), "text/html", "open.html"), "text", /PARSE_MAX_HTML_DEPTH/);
    assert.equal((await parse(nested(500), "text/html", "ok.html")).text, "deep text");
    // The largest depth the setting allows still walks within the default stack.
    const lists = "<ul><li>".repeat(1_000) + "deep text" + "</li></ul>".repeat(1_000);
    assert.equal((await parse(lists, "text/html", "ok.html", undefined, limits({ maxHtmlDepth: 2_000 }))).text, "- deep text");
  });

  test("HTML text and the HTML a .docx becomes are bounded", async () => {
    await refused(parse(`<p>${"many words ".repeat(100)}</p>`, "text/html", "long.html", undefined, limits({ maxTextChars: 500 })), "text", /^text: long\.html: its text exceeds the limit of 500 characters \(PARSE_MAX_TEXT_CHARS\)$/);
    await refused(parse("x".repeat(600), "text/plain", "long.txt", undefined, limits({ maxTextChars: 500 })), "text", /its text \(600 characters\) exceeds the limit of 500 characters \(PARSE_MAX_TEXT_CHARS\)/);
    const docx = await plainDocx(["a".repeat(5_000)]);
    await refused(parse(docx, DOCX_TYPE, "big.docx", undefined, limits({ maxExpandedBytes: 5_000 })), "content", /PARSE_MAX_EXPANDED_BYTES/);
    assert.equal((await parse(docx, DOCX_TYPE, "big.docx")).text, "a".repeat(5_000));
  });
});

describe("isolated parsing", () => {
  log.silent = true; // replaced workers are logged as warnings, on purpose here
  const parsers: IsolatedParser[] = [];
  const isolated = (over: Partial<ConstructorParameters<typeof IsolatedParser>[0]> = {}) => {
    const parser = new IsolatedParser({ workers: 1, queue: 8, timeoutMs: 60_000, maxMemoryMb: 512, limits: DEFAULT_LIMITS, ...over });
    parsers.push(parser);
    return parser;
  };
  after(async () => void (await Promise.all(parsers.map((p) => p.close()))));

  test("formats parse in a worker to the same result as inline; refusals keep their type and field", async () => {
    const parser = isolated();
    const html = "<title>T</title><h1>Head</h1><p>Body &amp; more.</p>";
    assert.deepEqual(await parser.parse(html, "text/html", "a.html"), await parse(html, "text/html", "a.html"));
    const docx = await plainDocx(["First.", "Second."]);
    assert.equal((await parser.parse(docx, DOCX_TYPE, "a.docx")).text, "First.\n\nSecond.");
    assert.equal(docx.length > 0, true, "the caller's buffer is copied, not transferred away");
    await refused(parser.parse(nested(100_000), "text/html", "deep.html"), "text", /PARSE_MAX_HTML_DEPTH/);
    await refused(parser.parse("x", "application/zip", "a.zip"), "content_type", /not supported/);
  });

  test("a zip bomb that gets past the size checks runs out of its worker's memory or time, alone; other parses go on", async () => {
    // Limits raised so the bomb reaches mammoth: the worker's heap and clock are the last line.
    const parser = isolated({ workers: 2, maxMemoryMb: 128, timeoutMs: 15_000, limits: limits({ maxExpandedBytes: 1024 * MB, maxCompressionRatio: 1e9 }) });
    const bomb = parser.parse(await bombDocx(300 * MB), DOCX_TYPE, "bomb.docx");
    const others = Promise.all([
      parser.parse("<p>Small page.</p>", "text/html", "small.html"),
      parser.parse("plain words", "text/plain", "small.txt"),
      parser.parse(await plainDocx(["Small doc."]), DOCX_TYPE, "small.docx"),
    ]);
    await refused(bomb, "content", /^content: bomb\.docx: the (memory needed to parse it exceeds the limit of 128 MB \(PARSE_MAX_MEMORY_MB\)|time to parse it exceeds the limit of 15000 ms \(PARSE_TIMEOUT_MS\))$/);
    assert.deepEqual((await others).map((p) => p.text), ["Small page.", "plain words", "Small doc."]);
    assert.equal((await parser.parse(await plainDocx(["After."]), DOCX_TYPE, "after.docx")).text, "After.", "the worker was replaced");
  });

  test("a full queue is RESOURCE_EXHAUSTED; plain text never waits for a worker", async () => {
    const parser = isolated({ workers: 1, queue: 0 });
    const first = parser.parse(nested(400), "text/html", "one.html");
    await assert.rejects(parser.parse("<p>two</p>", "text/html", "two.html"), (err: unknown) => err instanceof RpcError && err.code === status.RESOURCE_EXHAUSTED && /PARSE_QUEUE=0/.test(err.message));
    assert.equal((await parser.parse("inline", "text/plain", "t.txt")).text, "inline");
    assert.equal((await first).text, "deep text");
  });
});
