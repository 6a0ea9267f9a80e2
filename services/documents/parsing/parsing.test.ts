import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { InvalidArgumentError } from "#mesh/errors.js";
import { makeDocx, makePdf } from "#testing/document-files.js";
import { DOCX_TYPE, parse, type ParsedText } from "./index.js";
import { normaliseText } from "./normalise.js";

/** Headings as (level, title), checked against the text at their offsets. */
function outline(parsed: ParsedText): [number, string][] {
  for (const h of parsed.headings) assert.equal(parsed.text.slice(h.at, h.at + h.title.length), h.title, `heading "${h.title}" sits at its offset`);
  assert.equal(normaliseText(parsed.text), parsed.text, "the text is already normalised");
  return parsed.headings.map((h) => [h.level, h.title]);
}

async function refusal(p: Promise<unknown>): Promise<InvalidArgumentError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError, `expected INVALID_ARGUMENT, got ${String(err)}`);
    assert.equal(err.code, status.INVALID_ARGUMENT);
    return err;
  }
  assert.fail("expected the parse to fail");
}

describe("parsing", () => {
  test("plain text: normalised (NFC, LF, no trailing spaces, one blank line at most), no headings", async () => {
    const parsed = await parse("\uFEFFCafe\u0301 menu  \r\n\r\n\r\n\r\nSoup\u0007 of the day\t\r\n", "text/plain", "menu.txt");
    assert.equal(parsed.text, "Café menu\n\nSoup of the day");
    assert.deepEqual(outline(parsed), []);
    assert.equal(parsed.title, undefined);
  });

  test("markdown: headings from # and underlines; syntax dropped, words kept", async () => {
    const md = [
      "---",
      "title: Team handbook",
      "---",
      "# Install *now*",
      "",
      "Run **the** [installer](https://example.com/get_(latest)) with `--quiet` and",
      "wait for it. Use snake_case_names\\* as they are.",
      "",
      "## On Linux ##",
      "",
      "* first step",
      "+ second step",
      "  continues here",
      "1. numbered",
      "",
      "| key | value |",
      "|-----|:-----:|",
      "| a   | 1     |",
      "",
      "> quoted  ",
      "> on two lines",
      "",
      "FAQ",
      "===",
      "",
      "```sh",
      "echo **not emphasis**",
      "```",
      "---",
      "<!-- a comment",
      "over lines -->",
      "[ref]: https://example.com",
      "Tom &amp; Jerry&#33;",
    ].join("\n");
    const parsed = await parse(md, "text/markdown", "handbook.md");
    assert.deepEqual(parsed.text.split("\n\n"), [
      "Install now",
      "Run the installer with --quiet and wait for it. Use snake_case_names* as they are.",
      "On Linux",
      "- first step\n- second step continues here\n1. numbered",
      "key | value\na | 1",
      "quoted\non two lines",
      "FAQ",
      "echo **not emphasis**",
      "Tom & Jerry!",
    ]);
    assert.deepEqual(outline(parsed), [[1, "Install now"], [2, "On Linux"], [1, "FAQ"]]);
    assert.equal(parsed.title, "Team handbook", "front matter names it");
    assert.equal((await parse("# Only heading\n\ntext", "text/markdown", "")).title, "Only heading");
  });

  test("html: main content and its h1-h6; chrome, code and forms dropped; entities decoded", async () => {
    const html = `<!DOCTYPE html><html><head><title>Pricing &mdash; Example</title><style>body{font:1em serif}</style>
      <script>window.track("visit")</script></head><body>
      <header><img src="logo.png" alt="Example logo"><nav><ul><li><a href="/">Home</a></li><li><a href="/blog">Blog</a></li></ul></nav></header>
      <div class="page"><h1>Plans</h1><p>Every plan includes   <b>unlimited</b>
        seats &amp; support.</p>
        <h2>Team</h2><p>For small teams.<br>Billed monthly.</p>
        <table><tr><th>Seats</th><th>Price</th></tr><tr><td>10</td><td><p>€99</p></td></tr></table>
        <h3>Add-ons</h3><ol><li>Backups</li><li><p>Audit log</p></li></ol>
        <pre>  plan = "team"
  seats = 10</pre>
        <form><label>Email</label><input name="email"><button>Subscribe</button></form>
        <div hidden>secret banner</div><noscript>Enable JavaScript</noscript><template><p>row</p></template>
      </div>
      <aside>Related posts</aside>
      <footer><p>&copy; 2024 Example Inc. <a href="/privacy">Privacy</a></p></footer></body></html>`;
    const parsed = await parse(html, "text/html", "pricing.html");
    assert.deepEqual(parsed.text.split("\n\n"), [
      "Plans",
      "Every plan includes unlimited seats & support.",
      "Team",
      "For small teams.\nBilled monthly.",
      "Seats | Price\n10 | €99",
      "Add-ons",
      "1. Backups\n2. Audit log",
      'plan = "team"\n  seats = 10',
    ]);
    for (const dropped of ["Home", "Blog", "track", "logo", "Subscribe", "Email", "secret", "JavaScript", "Related", "Privacy", "2024", "row"]) {
      assert.ok(!parsed.text.includes(dropped), `"${dropped}" is dropped`);
    }
    assert.deepEqual(outline(parsed), [[1, "Plans"], [2, "Team"], [3, "Add-ons"]]);
    assert.equal(parsed.title, "Pricing — Example");
  });

  test("html: <main> or else <article> is the content when the page marks it; an article's own header stays", async () => {
    const main = await parse("<body><h1>Site</h1><p>Teaser</p><main><h2>Story</h2><p>Body text.</p></main></body>", "text/html", "a.html");
    assert.equal(main.text, "Story\n\nBody text.");
    const articles = await parse(
      "<body><div>Sidebar junk</div><article><header><h1>First post</h1></header><p>One.</p><footer>Tags: a</footer></article><article><h1>Second</h1><p>Two.</p></article></body>",
      "text/html",
      "b.html",
    );
    assert.equal(articles.text, "First post\n\nOne.\n\nTags: a\n\nSecond\n\nTwo.");
    assert.equal(articles.title, "First post", "no <title>: the first heading");
  });

  test("html bytes in a declared charset are decoded", async () => {
    const latin1 = Buffer.from('<html><head><meta charset="iso-8859-1"></head><body><p>Caf\xe9 cr\xe8me</p></body></html>', "latin1");
    assert.equal((await parse(latin1, "text/html", "menu.html")).text, "Café crème");
  });

  test("pdf: text per page in reading order, headings from font size, title from the document info", async () => {
    const pdf = await makePdf(
      [
        { heading: "Getting started", paragraphs: [`${"The agent reports every minute. ".repeat(8)}It keeps a well-`, "Second paragraph."] },
        { heading: "Troubleshooting", paragraphs: ["Restart the agent."] },
      ],
      { title: "Agent guide" },
    );
    const parsed = await parse(pdf, "application/pdf", "guide.pdf");
    assert.deepEqual(outline(parsed), [[1, "Getting started"], [1, "Troubleshooting"]]);
    const [first, body, second, ...rest] = parsed.text.split("\n\n");
    assert.equal(first, "Getting started");
    assert.equal(body, `${"The agent reports every minute. ".repeat(8)}It keeps a well-`, "wrapped lines are one paragraph again");
    assert.equal(second, "Second paragraph.");
    assert.deepEqual(rest, ["Troubleshooting", "Restart the agent."], "page two follows page one");
    assert.equal(parsed.title, "Agent guide");
  });

  test("docx: Word heading styles become headings, runs join into paragraphs", async () => {
    const docx = await makeDocx([
      { heading: "title", text: "Employee handbook" },
      { text: "Read this first." },
      { heading: 1, text: "Benefits" },
      { text: "Everyone gets ", bold: "30 days." },
      { heading: 2, text: "Dental" },
      { text: "Covered in full." },
    ]);
    const parsed = await parse(docx, DOCX_TYPE, "handbook.docx");
    assert.equal(parsed.text, "Employee handbook\n\nRead this first.\n\nBenefits\n\nEveryone gets 30 days.\n\nDental\n\nCovered in full.");
    assert.deepEqual(outline(parsed), [[1, "Employee handbook"], [1, "Benefits"], [2, "Dental"]]);
    assert.equal(parsed.title, "Employee handbook");
  });

  test("corrupt, encrypted or empty files: INVALID_ARGUMENT on the body field, naming the file and the reason", async () => {
    const pdf = await makePdf([{ heading: "Secret", paragraphs: ["Eyes only."] }]);
    // Thunks: a refusal made before its turn to be awaited would count as an unhandled rejection.
    const cases: [() => Promise<unknown>, string, RegExp][] = [
      [() => parse(Buffer.from("%PDF-1.7\nnot really"), "application/pdf", "q3-report.pdf"), "content", /^content: q3-report\.pdf is not a valid PDF \(.+\)$/],
      [() => parse(pdf.subarray(0, pdf.length - 300), "application/pdf", "cut.pdf"), "content", /^content: cut\.pdf /],
      [async () => parse(await makePdf([{ heading: "Secret", paragraphs: ["x"] }], { userPassword: "pw" }), "application/pdf", "locked.pdf"), "content", /locked\.pdf is password-protected/],
      [async () => parse(await makePdf([]), "application/pdf", "scan.pdf"), "content", /scan\.pdf contains no extractable text \(a scanned PDF needs OCR first\)/],
      [() => parse(Buffer.from("PK\u0003\u0004garbage"), DOCX_TYPE, "memo.docx"), "content", /^content: memo\.docx is not a readable \.docx file \(.+\)$/],
      [() => parse(Buffer.from("just text"), DOCX_TYPE, "notes.docx"), "content", /notes\.docx is not a readable \.docx file \(not a zip archive\)/],
      [() => parse(Buffer.from([0xc3, 0x28]), "text/plain", "bad.txt"), "content", /bad\.txt is not valid UTF-8 text/],
      [() => parse("a\u0000b", "text/plain", "bin.txt"), "text", /bin\.txt contains NUL bytes/],
      [() => parse("body", "application/zip", "x.zip"), "content_type", /application\/zip \(x\.zip\) is not supported; supported: text\/plain, text\/markdown, text\/html, application\/pdf/],
      [() => parse("%PDF", "application/pdf", "y.pdf"), "text", /y\.pdf: application\/pdf is a binary format/],
      [() => parse("x", "constructor", "proto.txt"), "content_type", /constructor \(proto\.txt\) is not supported/],
    ];
    for (const [attempt, field, message] of cases) {
      const err = await refusal(attempt());
      assert.equal(err.field, field);
      assert.match(err.message, message);
    }
  });
});
