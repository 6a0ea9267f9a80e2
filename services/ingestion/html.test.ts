import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MAX_HTML_DEPTH, MAX_LINKS, scanHtml } from "./html.js";

describe("html scan limits", () => {
  test("100,000 nested elements with mismatched end tags stop at the depth limit instead of going quadratic", () => {
    const hostile = "<div>".repeat(100_000) + "deep" + "</span>".repeat(100_000);
    const scan = scanHtml(`<title>Deep</title><p>Intro words.</p>${hostile}`);
    assert.equal(scan.truncated, true);
    assert.equal(scan.title, "Deep");
    assert.equal(scan.text, "Intro words.", "what came before the limit stands");
  });

  test("nesting within the limit is read in full", () => {
    const depth = MAX_HTML_DEPTH - 10;
    const scan = scanHtml("<div>".repeat(depth) + "<p>inside</p>" + "</div>".repeat(depth) + "<p>after</p>");
    assert.equal(scan.truncated, false);
    assert.equal(scan.text, "inside after");
  });

  test("links past the limit are dropped; the text after them is still read", () => {
    const many = Array.from({ length: MAX_LINKS + 5 }, (_, i) => `<a href="/p${i}">x</a>`).join("");
    const scan = scanHtml(`${many}<p>tail text</p>`, new URL("https://site.test/"));
    assert.equal(scan.links.length, MAX_LINKS);
    assert.equal(scan.truncated, true);
    assert.match(scan.text, /tail text$/);
  });
});
