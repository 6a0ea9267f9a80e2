import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import type { Resolver } from "#mesh/egress.js";
import { scanHtml } from "../html.js";
import { FetchError, fetchLimited, type FetchLimits } from "./fetch.js";
import { parseRobots } from "./robots.js";

describe("robots.txt rules", () => {
  const robots = parseRobots(
    ["User-agent: *", "Disallow: /", "", "User-agent: RagMeshBot", "User-agent: other", "Disallow: /private", "Allow: /private/open", "Disallow: /*.pdf$", "# comment", ""].join("\n"),
    "RagMeshBot/0.1",
  );
  const allows = (path: string) => robots.allows(new URL(path, "http://site.test"));

  test("the group naming our product token applies, not the * group", () => {
    assert.equal(allows("/docs/intro"), true);
  });
  test("the longest matching rule wins; wildcards and $ anchor", () => {
    assert.equal(allows("/private/notes"), false);
    assert.equal(allows("/private/open/page"), true);
    assert.equal(allows("/files/report.pdf"), false);
    assert.equal(allows("/files/report.pdf?download=1"), true, "$ anchors the end");
  });
  test("without a matching group everything is allowed; the * group applies to other agents", () => {
    assert.equal(parseRobots("User-agent: someone-else\nDisallow: /\n", "RagMeshBot/0.1").allows(new URL("http://site.test/x")), true);
    assert.equal(parseRobots("User-agent: *\nDisallow: /\n", "RagMeshBot/0.1").allows(new URL("http://site.test/x")), false);
  });
});

describe("html scan", () => {
  test("title, visible text and resolved links; scripts, fragments and nofollow links left out", () => {
    const scan = scanHtml(
      `<html><head><title> The  Title </title><base href="/docs/"><script>var x = "hidden";</script></head>
       <body><p>Hello&amp;welcome</p><a href="a.html#part">A</a><a href="/b" rel="nofollow">B</a><a href="https://other.test/c">C</a></body></html>`,
      new URL("http://site.test/start"),
    );
    assert.equal(scan.title, "The Title");
    assert.equal(scan.text, "Hello&welcome ABC", "inline elements run together, as a browser shows them");
    assert.deepEqual(scan.links.map((u) => u.href), ["http://site.test/docs/a.html", "https://other.test/c"]);
    assert.equal(scan.nofollow, false);
    assert.equal(scanHtml(`<meta name="robots" content="noindex, nofollow">`).nofollow, true);
  });
});

describe("fetch with limits", () => {
  let server: Server;
  let base: string;
  const limits: FetchLimits = { timeoutMs: 5_000, maxBytes: 1_000, userAgent: "RagMeshBot/0.1", allowPrivate: true };
  const signal = new AbortController().signal;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/big") return res.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(5_000));
      if (req.url === "/away") return res.writeHead(302, { location: "http://elsewhere.test/" }).end();
      if (req.url === "/gz") return res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip" }).end(gzipSync("unzipped"));
      if (req.url === "/moved") return res.writeHead(301, { location: "/final" }).end();
      res.writeHead(200, { "content-type": "text/html; charset=ISO-8859-1", "last-modified": "Tue, 04 Jun 2024 10:00:00 GMT" }).end("<p>ok</p>");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  test("reports the final URL, content type, charset and Last-Modified", async () => {
    const page = await fetchLimited(new URL(`${base}/moved`), limits, { signal, mayFollow: (u) => u.hostname === "127.0.0.1" });
    assert.equal(page.url.href, `${base}/final`);
    assert.equal(page.contentType, "text/html");
    assert.equal(page.charset, "ISO-8859-1");
    assert.equal(page.lastModified?.toISOString(), "2024-06-04T10:00:00.000Z");
  });
  test("refuses bodies over the limit, redirects off the allowed hosts, and internal addresses", async () => {
    await assert.rejects(fetchLimited(new URL(`${base}/big`), limits, { signal }), (err) => err instanceof FetchError && /over the limit of 1000 bytes/.test(err.message));
    await assert.rejects(fetchLimited(new URL(`${base}/away`), limits, { signal, mayFollow: (u) => u.hostname === "127.0.0.1" }), /outside the crawl's allowed hosts/);
    await assert.rejects(fetchLimited(new URL(`${base}/`), { ...limits, allowPrivate: false }, { signal }), /internal address/);
    await assert.rejects(fetchLimited(new URL("http://[::1]:9/"), { ...limits, allowPrivate: false }, { signal }), /internal address/);
  });
  test("a name that resolves to a private address is refused unless allowed; allowed, the crawler connects to the address checked", async () => {
    let calls = 0;
    // The first answer is the one checked; a later one (DNS rebinding) would point somewhere else.
    const resolve: Resolver = async () => [{ address: calls++ === 0 ? "127.0.0.1" : "10.9.9.9", family: 4 }];
    const url = new URL(`http://intranet.test:${new URL(base).port}/`);
    await assert.rejects(
      fetchLimited(url, { ...limits, allowPrivate: false }, { signal, resolve }),
      (err) => err instanceof FetchError && /^intranet\.test resolves to internal address 127\.0\.0\.1; .*INGESTION_WEB_ALLOW_PRIVATE/.test(err.message),
    );
    calls = 0;
    const page = await fetchLimited(url, limits, { signal, resolve });
    assert.equal(page.body.toString(), "<p>ok</p>", "intranet.test is not in DNS: the answer came from the pinned 127.0.0.1");
    assert.equal(calls, 1, "resolved once, at the check");
  });
  test("a name that does not resolve fails naming it; gzip bodies are decoded", async () => {
    await assert.rejects(fetchLimited(new URL("http://nowhere.test/"), limits, { signal, resolve: async () => [] }), /cannot resolve nowhere\.test/);
    assert.equal((await fetchLimited(new URL(`${base}/gz`), limits, { signal })).body.toString(), "unzipped");
  });
});
