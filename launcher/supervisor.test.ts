/**
 * KeptProcess with real (tiny) child processes: a killed process comes back with a new pid and the reason
 * logged, a crash loop is given up on, a configuration error is not retried, and stop() during a backoff
 * wait ends at once without starting anything. Every wait is on a log line or an exit, never on a clock.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { isAlive } from "#launcher/proc.js";
import { RestartPolicy } from "#launcher/restart-policy.js";
import { KeptProcess, type KeptProcessOptions } from "#launcher/supervisor.js";

const TIMEOUT = { timeout: 30_000 };
const started: KeptProcess[] = [];

after(async () => {
  await Promise.all(started.map((k) => k.kill()));
});

/** A KeptProcess running `node -e script`, with its launcher log kept and awaitable. */
function keep(script: string, options: Partial<KeptProcessOptions> = {}) {
  const said: string[] = [];
  const waiters = new Set<() => void>();
  const kept = new KeptProcess({
    spec: { name: "svc", command: process.execPath, args: ["-e", script], cwd: process.cwd(), env: process.env },
    onLine: () => undefined,
    say: (text) => {
      said.push(text);
      for (const wake of waiters) wake();
    },
    ...options,
  });
  started.push(kept);
  const saw = (pattern: RegExp) =>
    new Promise<string>((resolve) => {
      const check = () => {
        const hit = said.find((l) => pattern.test(l));
        if (hit === undefined) return;
        waiters.delete(check);
        resolve(hit);
      };
      waiters.add(check);
      check();
    });
  return { kept, said, saw, log: () => said.join("\n") };
}

const LIVES = "console.log('hello from ' + process.pid); setInterval(() => {}, 60_000);";

describe("KeptProcess", () => {
  test("a process killed with SIGKILL is started again after the backoff, the reason and its last lines logged", TIMEOUT, async () => {
    let readyCalls = 0;
    const { kept, saw, log } = keep(LIVES, {
      policy: new RestartPolicy({ initialDelayMs: 10 }),
      ready: async () => void readyCalls++,
      readyWord: "SERVING",
    });
    // Its first line proves it runs; then it dies the way an OOM kill or `kill -9` ends it.
    await new Promise<void>((resolve) => {
      const poll = () => (kept.current.recentLines().length > 0 ? resolve() : setTimeout(poll, 10));
      poll();
    });
    const first = kept.pid!;
    process.kill(first, "SIGKILL");

    await saw(/svc is SERVING again/);
    const text = log();
    assert.match(text, new RegExp(`svc \\(pid ${first}\\) exited unexpectedly: killed by SIGKILL`));
    assert.match(text, new RegExp(`last lines of svc:\\n    hello from ${first}`));
    assert.match(text, /restarting svc in 10 ms \(restart 1\)/);
    assert.match(text, /restarted svc \(pid \d+, restart 1\)/);
    assert.notEqual(kept.pid, first, "a new process");
    assert.ok(isAlive(kept.pid!));
    assert.equal(kept.restarts, 1);
    assert.equal(kept.status, "running");
    assert.equal(readyCalls, 1, "readiness is awaited after a restart");
  });

  test("a crash loop is given up on after the bound, saying so", TIMEOUT, async () => {
    const { kept, saw, log } = keep("console.error('boom: cannot open the store'); process.exit(3)", {
      policy: new RestartPolicy({ initialDelayMs: 1, maxRapidCrashes: 3 }),
    });
    const line = await saw(/NOT restarting svc/);
    assert.match(line, /crash loop: it ended 4 times in a row/);
    assert.match(log(), /exit code 3/);
    assert.match(log(), /boom: cannot open the store/);
    assert.match(log(), /crash 3 in a row, at most 3/);
    assert.equal(kept.restarts, 3);
    assert.equal(kept.status, "given-up");
  });

  test("a configuration error (exit 78) is reported and not restarted", TIMEOUT, async () => {
    const { kept, saw } = keep("console.error('svc: PORT: expected a number'); process.exit(78)", { policy: new RestartPolicy({ initialDelayMs: 1 }) });
    assert.match(await saw(/NOT restarting svc/), /configuration error/);
    assert.equal(kept.restarts, 0);
  });

  test("stop() during a backoff wait returns at once and starts nothing", TIMEOUT, async () => {
    const { kept, saw } = keep("process.exit(1)", { policy: new RestartPolicy({ initialDelayMs: 3_600_000, maxDelayMs: 3_600_000 }) });
    assert.match(await saw(/restarting svc in/), /in 60 min/);
    assert.equal(kept.status, "backoff");
    // Were the hour-long wait not cancelled, this would outlast the test's timeout.
    const { wasRunning } = await kept.stop(1_000);
    assert.equal(wasRunning, false);
    assert.equal(kept.status, "stopped");
    assert.equal(kept.restarts, 0);
  });

  test("stop() is not a crash: no restart follows", TIMEOUT, async () => {
    const { kept, said } = keep(LIVES, { policy: new RestartPolicy({ initialDelayMs: 1 }) });
    const pid = kept.pid!;
    const { wasRunning } = await kept.stop(5_000);
    assert.equal(wasRunning, true);
    assert.equal(kept.pid, pid);
    assert.equal(kept.restarts, 0);
    assert.deepEqual(said, []);
  });

  test("onExit can veto the restart (the stack is still starting)", TIMEOUT, async () => {
    let vetoed!: () => void;
    const seen = new Promise<void>((resolve) => (vetoed = resolve));
    const { kept, said } = keep("process.exit(2)", {
      policy: new RestartPolicy({ initialDelayMs: 1 }),
      onExit: (exit) => {
        assert.deepEqual(exit, { code: 2, signal: null });
        vetoed();
        return false;
      },
    });
    await seen;
    await kept.current.exited;
    assert.deepEqual(said, []);
    assert.equal(kept.restarts, 0);
  });
});
