import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { docsHandler } from "./docs.js";

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

let server: Server;
let port: number;

before(async () => {
  const docs = docsHandler({ openApiPath: "/openapi.json", mount: "/docs", title: "RAG <API>" });
  server = createServer((req, res) => {
    if (docs(req, res)) return;
    res.writeHead(418, { "content-type": "text/plain" });
    res.end("not docs");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function fetchRaw(path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // A raw path, not a URL: a URL would resolve "/docs/../x" before it is sent.
    const req = request({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** The asset URLs the page itself references, so the test follows the page rather than guess file names. */
function pageAssets(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => u.startsWith("/docs/"));
}

test("the page is HTML that loads /openapi.json through external scripts only", async () => {
  for (const path of ["/docs", "/docs/", "/docs?x=1"]) {
    const r = await fetchRaw(path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(r.headers["cache-control"], "no-cache");
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    const csp = String(r.headers["content-security-policy"]);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-eval|script-src[^;]*unsafe-inline/);
    const html = r.body.toString("utf8");
    assert.match(html, /data-openapi-url="\/openapi\.json"/);
    assert.match(html, /<title>RAG &#60;API&#62;<\/title>/, "the title is escaped");
    // No inline script: every <script> has a src and no content.
    for (const tag of html.match(/<script[^>]*>[^<]*<\/script>/g) ?? []) assert.match(tag, /^<script src="[^"]+"><\/script>$/);
    assert.doesNotMatch(html, /https?:\/\//, "nothing is loaded from another origin");
  }
});

test("every asset the page references is served with its content type and cache headers", async () => {
  const html = (await fetchRaw("/docs")).body.toString("utf8");
  const assets = pageAssets(html);
  const expected: Record<string, RegExp> = { ".js": /^text\/javascript; charset=utf-8$/, ".css": /^text\/css; charset=utf-8$/, ".png": /^image\/png$/ };
  assert.ok(assets.some((a) => a.endsWith("swagger-ui-bundle.js")));
  assert.ok(assets.some((a) => a.endsWith("swagger-ui.css")));
  assert.ok(assets.some((a) => a.endsWith("/init.js")));
  for (const asset of assets) {
    const r = await fetchRaw(asset);
    assert.equal(r.status, 200, asset);
    const ext = asset.slice(asset.lastIndexOf("."));
    assert.match(String(r.headers["content-type"]), expected[ext], asset);
    assert.ok(r.headers.etag, `${asset} has an ETag`);
    assert.equal(Number(r.headers["content-length"]), r.body.length);
    // Versioned package files never change under their URL; the handler's own files may change with a deploy.
    if (asset.includes("/assets/")) assert.equal(r.headers["cache-control"], "public, max-age=31536000, immutable", asset);
    else assert.equal(r.headers["cache-control"], "no-cache", asset);
  }
  const init = (await fetchRaw("/docs/init.js")).body.toString("utf8");
  assert.match(init, /SwaggerUIBundle\(/);
  assert.match(init, /data-openapi-url/);
  assert.match(init, /validatorUrl: null/);
});

test("the bundle is gzipped on request, answers conditional requests and HEAD", async () => {
  const bundle = pageAssets((await fetchRaw("/docs")).body.toString("utf8")).find((a) => a.endsWith("swagger-ui-bundle.js"))!;
  const plain = await fetchRaw(bundle);
  const zipped = await fetchRaw(bundle, { headers: { "accept-encoding": "br, gzip;q=0.8" } });
  assert.equal(zipped.headers["content-encoding"], "gzip");
  assert.equal(zipped.headers.vary, "Accept-Encoding");
  assert.ok(zipped.body.length < plain.body.length);
  assert.deepEqual(gunzipSync(zipped.body), plain.body);
  assert.equal((await fetchRaw(bundle, { headers: { "accept-encoding": "gzip;q=0" } })).headers["content-encoding"], undefined);

  const again = await fetchRaw(bundle, { headers: { "if-none-match": String(plain.headers.etag) } });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);

  const head = await fetchRaw(bundle, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(Number(head.headers["content-length"]), plain.body.length);
  assert.equal(head.body.length, 0);
});

test("unknown assets are 404 and other methods 405, both as JSON errors", async () => {
  for (const path of ["/docs/nope.js", "/docs/assets/0.0.0/swagger-ui-bundle.js", "/docs/assets/package.json", "/docs/../package.json", "/docs/%2e%2e/package.json"]) {
    const r = await fetchRaw(path);
    assert.equal(r.status, 404, path);
    assert.equal(r.headers["content-type"], "application/json; charset=utf-8");
    const body = JSON.parse(r.body.toString("utf8"));
    assert.equal(body.status, "NOT_FOUND");
    assert.match(body.message, /no such documentation asset/);
  }
  const post = await fetchRaw("/docs", { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, "GET, HEAD");
});

test("paths outside the mount are left to the caller", async () => {
  for (const path of ["/", "/openapi.json", "/docsx", "/v1/documents", "/doc"]) {
    const r = await fetchRaw(path);
    assert.equal(r.status, 418, path);
  }
});

test("bad options are rejected with the option named", () => {
  assert.throws(() => docsHandler({ openApiPath: "/openapi.json", mount: "/" }), /mount "\/" would take over every path/);
  assert.throws(() => docsHandler({ openApiPath: "/openapi.json", mount: "docs" }), /mount "docs" must be a plain path/);
  assert.throws(() => docsHandler({ openApiPath: "openapi.json", mount: "/docs" }), /openApiPath "openapi\.json" must be a path/);
  // A trailing slash on the mount is tolerated.
  assert.equal(typeof docsHandler({ openApiPath: "/openapi.json", mount: "/api-docs/" }), "function");
});
