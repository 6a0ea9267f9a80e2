import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { EgressRefusedError, isInternalAddress } from "./egress.js";
import { postOnce } from "./post.js";

let receiver: http.Server;
let port: number;
let received = 0;

before(async () => {
  receiver = http.createServer((req, res) => {
    received++;
    req.resume();
    res.writeHead(204).end();
  });
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  port = (receiver.address() as AddressInfo).port;
});

after(() => receiver.close());

const post = (url: string, allowPrivate: boolean) => postOnce(url, "{}", { "content-type": "application/json" }, { timeoutMs: 2_000, allowPrivate, signal: new AbortController().signal });

describe("outbound address guard", () => {
  test("classifies internal and public addresses", () => {
    for (const a of ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1"]) {
      assert.equal(isInternalAddress(a), true, a);
    }
    for (const a of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) assert.equal(isInternalAddress(a), false, a);
  });

  test("refuses loopback by IP literal and by a name that resolves to it, before anything is sent", async () => {
    await assert.rejects(post(`http://127.0.0.1:${port}/hook`, false), EgressRefusedError);
    await assert.rejects(post(`http://[::1]:${port}/hook`, false), EgressRefusedError);
    await assert.rejects(post(`http://localhost:${port}/hook`, false), /resolves to internal address/);
    assert.equal(received, 0, "the receiver saw no request");
  });

  test("delivers to loopback when private addresses are allowed", async () => {
    const res = await post(`http://127.0.0.1:${port}/hook`, true);
    assert.equal(res.status, 204);
    assert.equal(received, 1);
  });
});
