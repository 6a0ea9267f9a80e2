import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareSpecificity, compileTemplate, matchTemplate, PathDecodeError, TemplateSyntaxError } from "./path-template.js";

const vars = (template: string, path: string) => {
  const m = matchTemplate(compileTemplate(template), path);
  return m ? Object.fromEntries(m.variables) : undefined;
};

describe("path templates", () => {
  it("matches literals exactly", () => {
    assert.deepEqual(vars("/v1/documents", "/v1/documents"), {});
    assert.equal(vars("/v1/documents", "/v1/documents/x"), undefined);
    assert.equal(vars("/v1/documents", "/v1/document"), undefined);
    assert.deepEqual(vars("/v1/.well-known/jwks.json", "/v1/.well-known/jwks.json"), {});
  });

  it("captures single-segment variables, URL-decoded", () => {
    assert.deepEqual(vars("/v1/documents/{document_id}", "/v1/documents/abc"), { document_id: "abc" });
    assert.deepEqual(vars("/v1/documents/{document_id}", "/v1/documents/a%20b%2Fc"), { document_id: "a b/c" });
    assert.equal(vars("/v1/documents/{document_id}", "/v1/documents/"), undefined);
    assert.equal(vars("/v1/documents/{document_id}", "/v1/documents/a/b"), undefined);
  });

  it("captures nested field paths", () => {
    assert.deepEqual(vars("/v1/{filter.collection}/items/{id}", "/v1/handbook/items/7"), { "filter.collection": "handbook", id: "7" });
  });

  it("captures multi-segment variables and wildcards", () => {
    assert.deepEqual(vars("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b2"), { name: "shelves/s1/books/b2" });
    assert.equal(vars("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/tapes/b2"), undefined);
    assert.deepEqual(vars("/v1/files/{path=**}", "/v1/files/a/b/c.txt"), { path: "a/b/c.txt" });
    assert.deepEqual(vars("/v1/*/meta", "/v1/anything/meta"), {});
    assert.deepEqual(vars("/v1/static/**", "/v1/static/x/y"), {});
  });

  it("splits a trailing verb, also after a variable", () => {
    const watch = compileTemplate("/v1/jobs/{job_id}:watch");
    assert.equal(watch.verb, "watch");
    assert.deepEqual(vars("/v1/jobs/{job_id}:watch", "/v1/jobs/j1:watch"), { job_id: "j1" });
    assert.equal(vars("/v1/jobs/{job_id}:watch", "/v1/jobs/j1"), undefined);
    assert.equal(vars("/v1/jobs/{job_id}:watch", "/v1/jobs/j1:cancel"), undefined);
    assert.deepEqual(vars("/v1/collections/{collection}:search", "/v1/collections/handbook:search"), { collection: "handbook" });
    assert.deepEqual(vars("/v1/query:ask", "/v1/query:ask"), {});
    assert.equal(vars("/v1/query:ask", "/v1/query"), undefined);
    assert.deepEqual(vars("/v1/collections/{collection}/points:upsert", "/v1/collections/c/points:upsert"), { collection: "c" });
  });

  it("prefers a verb template over a variable that would swallow the verb", () => {
    const plain = compileTemplate("/v1/jobs/{job_id}");
    const watch = compileTemplate("/v1/jobs/{job_id}:watch");
    // Both match; the verb route must win whichever order they come in.
    assert.deepEqual(Object.fromEntries(matchTemplate(plain, "/v1/jobs/j1:watch")!.variables), { job_id: "j1:watch" });
    assert.ok(compareSpecificity(watch, plain) < 0);
    assert.ok(compareSpecificity(plain, watch) > 0);
  });

  it("prefers literals over variables over **", () => {
    const literal = compileTemplate("/v1/documents/latest");
    const variable = compileTemplate("/v1/documents/{id}");
    const deep = compileTemplate("/v1/documents/**");
    assert.ok(compareSpecificity(literal, variable) < 0);
    assert.ok(compareSpecificity(variable, deep) < 0);
    assert.equal(compareSpecificity(variable, compileTemplate("/v1/documents/{other}")), 0);
  });

  it("rejects malformed templates with a reason", () => {
    for (const [template, problem] of [
      ["v1/x", /must start with '\/'/],
      ["/v1/{id", /unbalanced braces|unterminated/],
      ["/v1/{a}}", /unbalanced braces/],
      ["/v1/**/x", /'\*\*' must be the last segment/],
      ["/v1//x", /empty segment/],
      ["/v1/{a-b}", /invalid field path/],
      ["/v1/{a}/{a}", /appears twice/],
      ["/v1/x:", /empty verb/],
    ] as const) {
      assert.throws(() => compileTemplate(template), (err: Error) => err instanceof TemplateSyntaxError && problem.test(err.message), template);
    }
  });

  it("rejects broken percent-encoding", () => {
    assert.throws(() => matchTemplate(compileTemplate("/v1/documents/{id}"), "/v1/documents/%E0%A4%A"), PathDecodeError);
  });
});
