import { after, test } from "node:test";
import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { startConsulTestServer, type ConsulTestServer } from "#testing/consul/server.js";
import { echo, EchoClient, startReplica, type Replica } from "#testing/consul/replica.js";
import { makeTestPki } from "#testing/consul/tls.js";
import { ConsulRegistration } from "./consul-registration.js";
import { ConsulDiscovery } from "./consul-resolver.js";
import { parseConsulSettings } from "./consul-settings.js";

const pki = makeTestPki();
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test("consul over TLS: CONSUL_CACERT, CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY reach an agent that verifies clients", { skip: pki ? false : "openssl is not installed" }, async () => {
  const s: ConsulTestServer = await startConsulTestServer({ tls: { key: pki!.serverKey, cert: pki!.serverCert, ca: pki!.ca } });
  cleanups.push(() => s.close());
  const r: Replica = await startReplica("tls");
  cleanups.push(() => r.stop());
  const settings = parseConsulSettings({
    CONSUL_HTTP_ADDR: `https://${s.address}`,
    CONSUL_CACERT: pki!.caPath,
    CONSUL_CLIENT_CERT: pki!.clientCertPath,
    CONSUL_CLIENT_KEY: pki!.clientKeyPath,
  });
  const replica = { service: "retrieval", grpcPort: r.grpcPort, adminPort: r.adminPort, bindHost: "127.0.0.1" };
  const reg = new ConsulRegistration(settings.agent, { ...settings.registration, checkInterval: "200ms" }, replica);
  cleanups.push(() => reg.close());
  await reg.register();
  assert.ok(s.serviceIds().includes(reg.id));
  for (let i = 0; i < 100 && s.checkStatuses(reg.id)[`${reg.id}:readyz`] !== "passing"; i++) await new Promise((ok) => setTimeout(ok, 50));

  const d = new ConsulDiscovery(settings.agent);
  cleanups.push(() => d.close());
  const c = new EchoClient(d.target("retrieval"), credentials.createInsecure());
  cleanups.push(() => c.close());
  assert.equal(await echo(c, 5_000), "tls");

  // Without the client certificate the agent refuses the connection, and the error says where it failed.
  const { agent: noClientCert } = parseConsulSettings({ CONSUL_HTTP_ADDR: `https://${s.address}`, CONSUL_CACERT: pki!.caPath });
  const refused = new ConsulRegistration(noClientCert, settings.registration, replica);
  cleanups.push(() => refused.close());
  await assert.rejects(refused.register(), (err: Error) =>
    err.message.startsWith(`could not reach the consul agent at https://127.0.0.1:${s.port} to register ${reg.id}: `) && /certificate required/.test(err.message),
  );
});
