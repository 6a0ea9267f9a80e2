import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_RATE_LIMITS, parseRateLimitConfig } from "./config.js";

test("no setting, or a blank one, gives the defaults", () => {
  assert.deepEqual(parseRateLimitConfig(undefined), DEFAULT_RATE_LIMITS);
  assert.deepEqual(parseRateLimitConfig("  "), DEFAULT_RATE_LIMITS);
  assert.deepEqual(DEFAULT_RATE_LIMITS.roles.READER, { burst: 20, perMinute: 120, perHour: 3000 });
  assert.deepEqual(DEFAULT_RATE_LIMITS.roles.EDITOR, { burst: 40, perMinute: 240, perHour: 6000 });
  assert.deepEqual(DEFAULT_RATE_LIMITS.roles.ADMIN, { burst: 100, perMinute: 600, perHour: 15000 });
  assert.deepEqual(DEFAULT_RATE_LIMITS.tenant, { burst: 200, perMinute: 1200, perHour: 30000 });
});

test("partial overrides merge over the defaults, field by field", () => {
  const config = parseRateLimitConfig(JSON.stringify({ roles: { READER: { burst: 5 }, SERVICE: { perHour: 99 } }, tenant: { perMinute: 7 } }));
  assert.deepEqual(config.roles.READER, { burst: 5, perMinute: 120, perHour: 3000 });
  assert.deepEqual(config.roles.SERVICE, { ...DEFAULT_RATE_LIMITS.roles.SERVICE, perHour: 99 });
  assert.deepEqual(config.roles.ADMIN, DEFAULT_RATE_LIMITS.roles.ADMIN);
  assert.deepEqual(config.tenant, { burst: 200, perMinute: 7, perHour: 30000 });
  assert.equal(DEFAULT_RATE_LIMITS.roles.READER.burst, 20, "parsing never changes the defaults");
});

test("a bad value throws an error naming its path", () => {
  const cases: [unknown, RegExp][] = [
    [{ roles: { READER: { burst: -1 } } }, /roles\.READER\.burst: must be a positive integer \(got -1\)/],
    [{ roles: { READER: { burst: 0 } } }, /roles\.READER\.burst: must be a positive integer/],
    [{ roles: { EDITOR: { perMinute: 1.5 } } }, /roles\.EDITOR\.perMinute: must be a positive integer \(got 1\.5\)/],
    [{ tenant: { perHour: "100" } }, /tenant\.perHour: must be a positive integer \(got "100"\)/],
    [{ tenant: { perDay: 100 } }, /tenant\.perDay: unknown limit; expected one of burst, perMinute, perHour/],
    [{ roles: { GUEST: { burst: 1 } } }, /roles\.GUEST: unknown role; expected one of ADMIN, EDITOR, READER, SERVICE/],
    [{ roles: { READER: 5 } }, /roles\.READER: must be a JSON object \(got 5\)/],
    [{ roles: [] }, /roles: must be a JSON object/],
    [{ tenant: null }, /tenant: must be a JSON object \(got null\)/],
    [{ limits: {} }, /limits: unknown setting; expected "roles" or "tenant"/],
    [[1], /\(top level\): must be a JSON object/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseRateLimitConfig(JSON.stringify(value)), message, JSON.stringify(value));
  }
  assert.throws(() => parseRateLimitConfig("{roles:"), /GATEWAY_RATE_LIMITS: not valid JSON/);
});
