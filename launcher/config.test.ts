import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, loadConfig } from "#launcher/config.js";

const load = (env: NodeJS.ProcessEnv) => loadConfig(env, "/repo");

describe("launcher config: restarts", () => {
  test("on by default with the policy's numbers; off with RAG_RESTART=off", () => {
    assert.deepEqual(load({}).restart, { initialDelayMs: 500, maxDelayMs: 30_000 });
    assert.deepEqual(load({ RAG_RESTART: "on" }).restart, { initialDelayMs: 500, maxDelayMs: 30_000 });
    assert.equal(load({ RAG_RESTART: "off" }).restart, false);
  });

  test("delays can be set; a first delay above the default maximum raises the maximum with it", () => {
    assert.deepEqual(load({ RAG_RESTART_DELAY_MS: "100", RAG_RESTART_MAX_DELAY_MS: "2000" }).restart, { initialDelayMs: 100, maxDelayMs: 2_000 });
    assert.deepEqual(load({ RAG_RESTART_DELAY_MS: "3600000" }).restart, { initialDelayMs: 3_600_000, maxDelayMs: 3_600_000 });
  });

  test("bad values stop the launcher naming the variable", () => {
    const named = (variable: string) => (err: unknown) => err instanceof ConfigError && err.variable === variable;
    assert.throws(() => load({ RAG_RESTART: "sometimes" }), named("RAG_RESTART"));
    assert.throws(() => load({ RAG_RESTART_DELAY_MS: "-1" }), named("RAG_RESTART_DELAY_MS"));
    assert.throws(() => load({ RAG_RESTART_DELAY_MS: "5000", RAG_RESTART_MAX_DELAY_MS: "1000" }), named("RAG_RESTART_MAX_DELAY_MS"));
  });
});
