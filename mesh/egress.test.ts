import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { EgressRefusedError, isInternalAddress, pinnedLookup, requestPinned, resolveChecked, type EgressPolicy, type Resolver } from "./egress.js";

const REFUSAL = "refused here (TEST_ALLOW_PRIVATE)";
const refusing: EgressPolicy = { allowPrivate: false, refusal: REFUSAL };

/** A resolver with fixed answers per name that counts its calls; unknown names are ENOTFOUND. */
function fixedResolver(answers: Record<string, string[]>): Resolver & { calls: number } {
  const resolve = async (host: string) => {
    resolve.calls++;
    const list = answers[host];
    if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return list.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  resolve.calls = 0;
  return resolve;
}

describe("internal addresses", () => {
  test("classifies internal and public addresses", () => {
    for (const a of ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1"]) {
      assert.equal(isInternalAddress(a), true, a);
    }
    for (const a of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) assert.equal(isInternalAddress(a), false, a);
  });
});

describe("resolveChecked", () => {
  test("refuses internal IP literals, naming the host and the caller's reason", async () => {
    await assert.rejects(resolveChecked(new URL("http://127.0.0.1:9/x"), refusing), { name: "EgressRefusedError", message: `127.0.0.1 is an internal address; ${REFUSAL}` });
    await assert.rejects(resolveChecked(new URL("http://[::1]:9/x"), refusing), EgressRefusedError);
  });

  test("refuses a name when any address it resolves to is internal", async () => {
    const resolve = fixedResolver({ "inside.test": ["10.0.0.5"], "mixed.test": ["8.8.8.8", "192.168.0.7"] });
    await assert.rejects(resolveChecked(new URL("http://inside.test/"), { ...refusing, resolve }), { message: `inside.test resolves to internal address 10.0.0.5; ${REFUSAL}` });
    await assert.rejects(resolveChecked(new URL("https://mixed.test/"), { ...refusing, resolve }), /mixed\.test resolves to internal address 192\.168\.0\.7/);
  });

  test("refuses localhost through the system resolver", async () => {
    await assert.rejects(resolveChecked(new URL("http://localhost/"), refusing), /localhost resolves to internal address/);
  });

  test("answers the checked addresses of a public name, and of an internal one when allowed", async () => {
    const resolve = fixedResolver({ "public.test": ["8.8.8.8", "2606:4700:4700::1111"], "inside.test": ["10.0.0.5"] });
    assert.deepEqual(await resolveChecked(new URL("http://public.test/"), { ...refusing, resolve }), {
      host: "public.test",
      addresses: [{ address: "8.8.8.8", family: 4 }, { address: "2606:4700:4700::1111", family: 6 }],
    });
    assert.deepEqual((await resolveChecked(new URL("http://inside.test/"), { ...refusing, allowPrivate: true, resolve })).addresses, [{ address: "10.0.0.5", family: 4 }]);
    assert.deepEqual(await resolveChecked(new URL("http://[::1]/"), { ...refusing, allowPrivate: true }), { host: "::1", addresses: [{ address: "::1", family: 6 }] });
  });

  test("a name that does not resolve is an error naming it, with the resolver's code", async () => {
    await assert.rejects(resolveChecked(new URL("http://nowhere.test/"), { ...refusing, resolve: fixedResolver({}) }), { message: "cannot resolve nowhere.test: ENOTFOUND", code: "ENOTFOUND" });
    await assert.rejects(resolveChecked(new URL("http://empty.test/"), { ...refusing, resolve: fixedResolver({ "empty.test": [] }) }), /cannot resolve empty\.test: it has no address/);
  });

  test("an aborted signal ends the wait for the resolver", async () => {
    const never: Resolver = () => new Promise(() => undefined);
    const ac = new AbortController();
    const pending = resolveChecked(new URL("http://slow.test/"), { ...refusing, resolve: never }, ac.signal);
    ac.abort(new Error("gave up"));
    await assert.rejects(pending, /gave up/);
  });
});

describe("pinnedLookup", () => {
  const checked = { host: "pinned.test", addresses: [{ address: "127.0.0.1", family: 4 }, { address: "::1", family: 6 }] };
  const ask = (host: string, options: Parameters<ReturnType<typeof pinnedLookup>>[1]) =>
    new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) => pinnedLookup(checked)(host, options, (err, address, family) => resolve({ err, address, family })));

  test("answers only the checked addresses, by family, one or all", async () => {
    assert.deepEqual(await ask("pinned.test", { all: true }), { err: null, address: checked.addresses, family: undefined });
    assert.deepEqual(await ask("pinned.test", { family: 6 }), { err: null, address: "::1", family: 6 });
    assert.deepEqual(await ask("pinned.test", {}), { err: null, address: "127.0.0.1", family: 4 });
  });

  test("refuses a name other than the checked one", async () => {
    const { err } = await ask("elsewhere.test", {});
    assert.match(err?.message ?? "", /elsewhere\.test asked of a lookup pinned to pinned\.test/);
  });
});

describe("requestPinned", () => {
  let server: http.Server;
  let port: number;
  const seen: { host: string | undefined; local: string | undefined }[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ host: req.headers.host, local: req.socket.localAddress });
      req.resume();
      res.writeHead(204).end();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  const get = (url: URL, policy: EgressPolicy) =>
    resolveChecked(url, policy).then(
      (checked) =>
        new Promise<number>((resolve, reject) => {
          requestPinned(url, checked, {}, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
            .on("error", reject)
            .end();
        }),
    );

  test("connects to the checked address and never asks DNS again (a rebinding answer is not used)", async () => {
    let calls = 0;
    // The first answer is the one checked; any later one would send the connection elsewhere.
    const rebinding: Resolver = async () => (calls++ === 0 ? [{ address: "127.0.0.1", family: 4 }] : [{ address: "127.0.0.2", family: 4 }]);
    assert.equal(await get(new URL(`http://pinned.test:${port}/hook`), { ...refusing, allowPrivate: true, resolve: rebinding }), 204);
    assert.equal(calls, 1, "one resolution, at the check");
    assert.deepEqual(seen.at(-1), { host: `pinned.test:${port}`, local: "127.0.0.1" });
  });

  test("a refused host sends nothing", async () => {
    const before = seen.length;
    const resolve = fixedResolver({ "pinned.test": ["127.0.0.1"] });
    await assert.rejects(get(new URL(`http://pinned.test:${port}/hook`), { ...refusing, resolve }), EgressRefusedError);
    await assert.rejects(get(new URL(`http://127.0.0.1:${port}/hook`), refusing), EgressRefusedError);
    assert.equal(seen.length, before, "the server saw no request");
  });

  test("refuses schemes other than http and https", () => {
    assert.throws(() => requestPinned(new URL("ftp://pinned.test/"), { host: "pinned.test", addresses: [] }, {}), /only http and https requests are made, not ftp:/);
  });
});
