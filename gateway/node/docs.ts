import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";

// Serves the interactive API reference (Swagger UI) for the gateway's OpenAPI document. Every script is a file
// the page loads from this handler, never inline, so the page works under a CSP without 'unsafe-inline' scripts;
// the assets come from the installed swagger-ui-dist package, so the page needs no network beyond the gateway.

export interface DocsOptions {
  /** Where the OpenAPI document is served, e.g. "/openapi.json". */
  openApiPath: string;
  /** The page's path, e.g. "/docs"; assets are served under it. */
  mount: string;
  /** The page title; default "API reference". */
  title?: string;
}

interface Asset {
  body: Buffer;
  gzipped?: Buffer;
  contentType: string;
  etag: string;
  cacheControl: string;
}

const require = createRequire(import.meta.url);
const DIST_DIR = dirname(require.resolve("swagger-ui-dist/package.json"));
const DIST_VERSION = (JSON.parse(readFileSync(join(DIST_DIR, "package.json"), "utf8")) as { version: string }).version;

/** The package files the page uses; anything else under the mount is a 404. */
const DIST_FILES: Record<string, string> = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-bundle.js.map": "application/json; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui.css.map": "application/json; charset=utf-8",
  "favicon-16x16.png": "image/png",
  "favicon-32x32.png": "image/png",
};

// The page passes its settings through data attributes, so this script is the same for every mount.
const INIT_SCRIPT = `"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    displayOperationId: true,
    // The default validator is a remote service: it would send the document off-site and break under the CSP.
    validatorUrl: null
  });
});
`;

const PAGE_CSS = `html { box-sizing: border-box; overflow-y: scroll; }
*, *::before, *::after { box-sizing: inherit; }
body { margin: 0; background: #fafafa; }
noscript { display: block; padding: 2em; font-family: sans-serif; }
`;

// Swagger UI sets style attributes from script, hence 'unsafe-inline' for styles only; scripts stay 'self'.
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** A request handler that serves the page at `mount` and its assets below it; it returns false for any other path. */
export function docsHandler(opts: DocsOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const mount = checkMount(opts.mount);
  if (typeof opts.openApiPath !== "string" || !/^(\/|https?:\/\/)\S*$/.test(opts.openApiPath)) {
    throw new Error(`docsHandler: openApiPath "${String(opts.openApiPath)}" must be a path starting with "/" or an http(s) URL`);
  }
  const title = opts.title ?? "API reference";
  // Asset URLs carry the package version, so browsers may keep them forever and an upgrade still takes effect at once.
  const assetBase = `${mount}/assets/${DIST_VERSION}/`;
  const page = asset(Buffer.from(pageHtml(title, opts.openApiPath, mount, assetBase)), "text/html; charset=utf-8", "no-cache");
  const fixed = new Map<string, Asset>([
    [`${mount}/init.js`, asset(Buffer.from(INIT_SCRIPT), "text/javascript; charset=utf-8", "no-cache")],
    [`${mount}/page.css`, asset(Buffer.from(PAGE_CSS), "text/css; charset=utf-8", "no-cache")],
  ]);
  const distCache = new Map<string, Asset>();

  return (req, res) => {
    const path = pathOf(req.url);
    if (path !== mount && !path.startsWith(`${mount}/`)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendError(res, 405, `${req.method} is not allowed on ${path}; use GET`, { Allow: "GET, HEAD" });
      return true;
    }
    if (path === mount || path === `${mount}/`) {
      send(req, res, page, { "Content-Security-Policy": PAGE_CSP, "Referrer-Policy": "no-referrer" });
      return true;
    }
    const found = fixed.get(path) ?? distAsset(path, assetBase, distCache);
    if (!found) {
      sendError(res, 404, `no such documentation asset: ${path}`);
      return true;
    }
    send(req, res, found, {});
    return true;
  };
}

function checkMount(mount: string): string {
  if (typeof mount !== "string" || !/^\/[\w\-./]*$/.test(mount) || mount.includes("//") || mount.includes("/.")) {
    throw new Error(`docsHandler: mount "${String(mount)}" must be a plain path starting with "/", e.g. "/docs"`);
  }
  const trimmed = mount.replace(/\/+$/, "");
  if (!trimmed) throw new Error('docsHandler: mount "/" would take over every path; use e.g. "/docs"');
  return trimmed;
}

function pathOf(url: string | undefined): string {
  const raw = (url ?? "/").split("?")[0].split("#")[0];
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function distAsset(path: string, assetBase: string, cache: Map<string, Asset>): Asset | undefined {
  if (!path.startsWith(assetBase)) return undefined;
  const name = path.slice(assetBase.length);
  const contentType = DIST_FILES[name];
  if (!contentType) return undefined;
  let found = cache.get(name);
  if (!found) {
    // Read on first request: the bundle is large and many gateways never serve the page.
    found = asset(readFileSync(join(DIST_DIR, name)), contentType, "public, max-age=31536000, immutable");
    cache.set(name, found);
  }
  return found;
}

function asset(body: Buffer, contentType: string, cacheControl: string): Asset {
  const compressible = !contentType.startsWith("image/");
  return {
    body,
    gzipped: compressible && body.length > 1024 ? gzipSync(body) : undefined,
    contentType,
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
    cacheControl,
  };
}

function send(req: IncomingMessage, res: ServerResponse, a: Asset, extra: Record<string, string>): void {
  const headers: Record<string, string | number> = {
    "Content-Type": a.contentType,
    "Cache-Control": a.cacheControl,
    ETag: a.etag,
    "X-Content-Type-Options": "nosniff",
    ...extra,
  };
  if (a.gzipped) headers.Vary = "Accept-Encoding";
  if (matchesEtag(req.headers["if-none-match"], a.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gzip = a.gzipped && acceptsGzip(req.headers["accept-encoding"]);
  const body = gzip ? a.gzipped! : a.body;
  if (gzip) headers["Content-Encoding"] = "gzip";
  headers["Content-Length"] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === "HEAD" ? undefined : body);
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || t === etag || t === `W/${etag}`;
  });
}

function acceptsGzip(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(",") : header ?? "";
  return value.split(",").some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (coding.trim() !== "gzip") return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return !q || Number(q.slice(2)) > 0;
  });
}

function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const grpc = status === 404 ? { code: 5, status: "NOT_FOUND" } : { code: 12, status: "UNIMPLEMENTED" };
  const body = JSON.stringify({ ...grpc, message, details: [] });
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

function pageHtml(title: string, openApiPath: string, mount: string, assetBase: string): string {
  const t = escapeHtml(title);
  const spec = escapeHtml(openApiPath);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t}</title>
<link rel="stylesheet" href="${assetBase}swagger-ui.css">
<link rel="stylesheet" href="${mount}/page.css">
<link rel="icon" type="image/png" sizes="32x32" href="${assetBase}favicon-32x32.png">
<link rel="icon" type="image/png" sizes="16x16" href="${assetBase}favicon-16x16.png">
</head>
<body>
<noscript>This page needs JavaScript. The API description itself is at <a href="${spec}">${spec}</a>.</noscript>
<div id="swagger-ui" data-openapi-url="${spec}"></div>
<script src="${assetBase}swagger-ui-bundle.js"></script>
<script src="${mount}/init.js"></script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
