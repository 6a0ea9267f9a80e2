import { test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { InvalidArgumentError } from "#mesh/errors.js";
import { checkDestination } from "./destination.js";

const names: Record<string, string> = { "hooks.example.test": "93.184.216.34", "intranet.example.test": "10.1.2.3", "rebind.example.test": "127.0.0.1" };
const resolve = async (host: string) => {
  const address = names[host];
  if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return [{ address, family: 4 }];
};

test("destination: a URL the delivery guard would refuse is refused at subscription, naming the url field", async () => {
  for (const url of ["http://127.0.0.1:8080/hook", "http://localhost/hook", "https://[::1]/hook", "https://169.254.169.254/latest", "https://intranet.example.test/hook", "https://rebind.example.test/hook"]) {
    await assert.rejects(checkDestination(url, { allowPrivate: false, resolve: url.includes("localhost") ? undefined : resolve }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, url);
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.equal(err.field, "url");
      assert.match(err.message, /^url: points to an internal/);
      assert.doesNotMatch(err.message, /10\.1\.2\.3|127\.0\.0\.1/, "the resolved address is not revealed");
      return true;
    });
  }
});

test("destination: public hosts, unresolvable names (checked again at delivery) and NOTIFICATIONS_ALLOW_PRIVATE pass", async () => {
  await checkDestination("https://hooks.example.test/rag", { allowPrivate: false, resolve });
  await checkDestination("https://nowhere.example.test/rag", { allowPrivate: false, resolve });
  await checkDestination("http://127.0.0.1:8080/hook", { allowPrivate: true });
});
