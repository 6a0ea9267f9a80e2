import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_RESTART_POLICY, EX_CONFIG, formatDuration, RestartPolicy, type RestartDecision } from "#launcher/restart-policy.js";

const crash = { code: 1, signal: null };
const killed = { code: null, signal: "SIGKILL" };

function delays(decisions: RestartDecision[]): (number | string)[] {
  return decisions.map((d) => (d.action === "restart" ? d.delayMs : "give-up"));
}

describe("restart policy", () => {
  test("defaults: 0.5 s doubling to 30 s, reset after 60 s up, give up after 10 rapid crashes", () => {
    assert.deepEqual(DEFAULT_RESTART_POLICY, { initialDelayMs: 500, maxDelayMs: 30_000, multiplier: 2, stableAfterMs: 60_000, maxRapidCrashes: 10 });
  });

  test("crashes in a row back off exponentially, capped at the maximum", () => {
    const policy = new RestartPolicy();
    const got = delays(Array.from({ length: 10 }, () => policy.onCrash(1_000, killed)));
    assert.deepEqual(got, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]);
  });

  test("a run that lasted long enough starts the backoff over", () => {
    const policy = new RestartPolicy();
    policy.onCrash(100, crash);
    policy.onCrash(100, crash);
    assert.deepEqual(policy.onCrash(100, crash), { action: "restart", delayMs: 2_000, rapidCrashes: 3 });
    assert.deepEqual(policy.onCrash(60_000, crash), { action: "restart", delayMs: 500, rapidCrashes: 1 }, "stable for 60 s: back to the first delay");
    assert.deepEqual(policy.onCrash(59_999, crash), { action: "restart", delayMs: 1_000, rapidCrashes: 2 });
  });

  test("a crash loop is given up on, saying why; a stable run in between prevents it", () => {
    const policy = new RestartPolicy({ maxRapidCrashes: 3, stableAfterMs: 10_000 });
    assert.deepEqual(delays([policy.onCrash(5, crash), policy.onCrash(5, crash), policy.onCrash(5, crash)]), [500, 1_000, 2_000]);
    const fourth = policy.onCrash(5, crash);
    assert.equal(fourth.action, "give-up");
    assert.match(fourth.action === "give-up" ? fourth.reason : "", /crash loop: it ended 4 times in a row, each within 10 s of starting/);

    const lucky = new RestartPolicy({ maxRapidCrashes: 3, stableAfterMs: 10_000 });
    const got = [5, 5, 5, 10_000, 5, 5].map((uptime) => lucky.onCrash(uptime, crash));
    assert.ok(got.every((d) => d.action === "restart"), JSON.stringify(got));
  });

  test("a configuration error (exit code 78) is not restarted: the same configuration fails again", () => {
    const decision = new RestartPolicy().onCrash(100_000, { code: EX_CONFIG, signal: null });
    assert.equal(decision.action, "give-up");
    assert.match(decision.action === "give-up" ? decision.reason : "", /configuration error/);
  });

  test("custom numbers, and nonsense refused", () => {
    const policy = new RestartPolicy({ initialDelayMs: 100, maxDelayMs: 250, multiplier: 3 });
    assert.deepEqual(delays([policy.onCrash(0), policy.onCrash(0), policy.onCrash(0)]), [100, 250, 250]);
    assert.throws(() => new RestartPolicy({ initialDelayMs: 1_000, maxDelayMs: 10 }), RangeError);
    assert.throws(() => new RestartPolicy({ multiplier: 0.5 }), RangeError);
    assert.throws(() => new RestartPolicy({ maxRapidCrashes: 0 }), RangeError);
  });

  test("durations read the way a person says them", () => {
    assert.equal(formatDuration(500), "500 ms");
    assert.equal(formatDuration(1_000), "1 s");
    assert.equal(formatDuration(1_500), "1.5 s");
    assert.equal(formatDuration(30_000), "30 s");
    assert.equal(formatDuration(3_600_000), "60 min");
  });
});
