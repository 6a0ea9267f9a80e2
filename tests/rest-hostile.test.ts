/**
 * Hostile input over REST against the whole stack: every route with a path variable is called with
 * non-ASCII, NUL, invalid-UTF-8 and oversized values, and every kind of text field of a document (title,
 * tag, metadata key and value, text) with a NUL. Once a single `GET /v1/documents/%C3%A9` crashed the
 * documents service and a NUL in a title was a 500; now each is a 4xx naming what is wrong, and afterwards
 * every process of the stack is the one that started.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { httpBindings, loadRegistry } from "../gateway/node/http-rules.js";
import { startTestStack, type TestStack } from "#testing/stack.js";

const ADMIN_KEY = "rag_0123456789ab_bootstrapSecretForHostileInput_0";
const bindings = httpBindings(loadRegistry(["gen/rag.binpb"]));
// Limits high enough that no answer here is a 429, which would hide what the route does with the input.
const HIGH = { burst: 100_000, perMinute: 6_000_000, perHour: 100_000_000 };
const LIMITS = { roles: { READER: HIGH, EDITOR: HIGH, ADMIN: HIGH }, tenant: HIGH };

let env: TestStack;
let base = "";

interface Reply {
  status: number;
  body: any;
  text: string;
}

async function send(verb: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(base + path, {
    method: verb,
    headers: { "x-api-key": ADMIN_KEY, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    // Streams (WatchJob, AskStream) of an id that does not exist end at once; a bound keeps a bug from hanging the test.
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
}

before(async () => {
  env = await startTestStack({ IDENTITY_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY, GATEWAY_RATE_LIMITS: JSON.stringify(LIMITS) });
  base = env.stack.gatewayUrl!;
});

after(async () => {
  await env?.stop();
});

describe("hostile input over REST", () => {
  test("path variables that are non-ASCII, NUL, invalid UTF-8 or huge are answered 4xx on every route", async () => {
    const values = ["%C3%A9", "%F0%9F%98%80", "%E2%80%AE", "%00", "a%00b", "%FF", "%C3%28", "%25", "x".repeat(4_000)];
    const problems: string[] = [];
    let routes = 0;
    for (const b of bindings) {
      if (!b.template.includes("{")) continue;
      routes++;
      for (const value of values) {
        const path = b.template.replace(/\{([^}=]+)(=[^}]*)?\}/g, value);
        const reply = await send(b.verb, path, b.body === "" ? undefined : {});
        const label = `${b.verb} ${b.template} with ${value.slice(0, 16)}`;
        if (reply.status >= 500 || reply.status === 429) problems.push(`${label}: HTTP ${reply.status} ${reply.text.slice(0, 160)}`);
        else if (reply.status >= 400 && typeof reply.body?.message !== "string") problems.push(`${label}: HTTP ${reply.status} without a JSON error body`);
        // A NUL or invalid UTF-8 is refused as such, naming the variable, whatever the route would do with the id.
        if (/%00|%FF|%C3%28/.test(value) && reply.status !== 400) problems.push(`${label}: expected 400, got ${reply.status} ${reply.text.slice(0, 160)}`);
      }
    }
    assert.ok(routes >= 15, `only ${routes} routes with path variables`);
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join("\n")}\n--- stack log ---\n${env.recentLog()}`);
  });

  test("a NUL in any text field of a document is 400 naming the field, and nothing is stored", async () => {
    const good = { title: "Leave policy", text: "Everyone gets 30 days of paid leave.", collection: "hostile", tags: ["hr"], metadata: { team: "people" } };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["title", { ...good, title: "Leave\u0000policy" }, /^title$/],
      ["text", { ...good, text: "Every\u0000one" }, /^text$/],
      ["tag", { ...good, tags: ["hr", "a\u0000b"] }, /^tags/],
      ["metadata key", { ...good, metadata: { "te\u0000am": "people" } }, /^metadata/],
      ["metadata value", { ...good, metadata: { team: "peo\u0000ple" } }, /^metadata/],
      ["collection", { ...good, collection: "hos\u0000tile" }, /^collection$/],
    ];
    for (const [what, body, field] of cases) {
      const reply = await send("POST", "/v1/documents", body);
      assert.equal(reply.status, 400, `${what}: HTTP ${reply.status} ${reply.text}`);
      assert.match(reply.body.message, /NUL/, what);
      assert.match(String(reply.body.details?.[0]?.field), field, `${what}: ${reply.text}`);
    }
    const list = await send("GET", "/v1/documents?collection=hostile");
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.body.documents ?? [], [], "no refused document was stored");
    const created = await send("POST", "/v1/documents", good);
    assert.equal(created.status, 200, `the same document without the NUL is accepted: ${created.text}`);
  });

  test("afterwards no process of the stack has died", () => {
    // The launcher restarts a crashed service, so a crash shows only here.
    assert.deepEqual(env.unexpectedExits.map((e) => `${e.name}: ${JSON.stringify(e.exit)}`), [], `no process exited\n--- stack log ---\n${env.recentLog()}`);
  });
});
