/**
 * Throwaway certificates for the TLS tests: a CA, a server certificate for 127.0.0.1 and a client
 * certificate, made with the openssl binary into a temporary directory (valid for one day). Returns
 * undefined when openssl is not installed, so a test can skip saying why.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  dir: string;
  /** Paths, as CONSUL_CACERT / CONSUL_CLIENT_CERT / CONSUL_CLIENT_KEY take them. */
  caPath: string;
  clientCertPath: string;
  clientKeyPath: string;
  /** Contents, for the server. */
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
}

export function makeTestPki(): TestPki | undefined {
  const dir = mkdtempSync(join(tmpdir(), "consul-tls-"));
  const p = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  try {
    openssl("version");
  } catch {
    return undefined;
  }
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl("req", "-x509", ...key, "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "1", "-subj", "/CN=consul-test-ca");
  for (const [name, cn, ext] of [
    ["server", "server.dc1.consul", "subjectAltName=IP:127.0.0.1,DNS:server.dc1.consul\nextendedKeyUsage=serverAuth\n"],
    ["client", "rag-client", "extendedKeyUsage=clientAuth\n"],
  ] as const) {
    writeFileSync(p(`${name}.ext`), ext);
    openssl("req", ...key, "-keyout", p(`${name}.key`), "-out", p(`${name}.csr`), "-subj", `/CN=${cn}`);
    openssl("x509", "-req", "-in", p(`${name}.csr`), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(`${name}.pem`), "-days", "1", "-extfile", p(`${name}.ext`));
  }
  return {
    dir,
    caPath: p("ca.pem"),
    clientCertPath: p("client.pem"),
    clientKeyPath: p("client.key"),
    ca: readFileSync(p("ca.pem")),
    serverCert: readFileSync(p("server.pem")),
    serverKey: readFileSync(p("server.key")),
  };
}
