// Adds lockfile entries for optional platform packages (darwin, win32, arm, musl builds of native
// modules) that the registry mirror of this workplace does not carry. npm leaves them out of
// package-lock.json when it cannot fetch them, and `npm ci` then rejects the lockfile as out of sync.
// Each entry records name, version and the os/cpu the package declares by its name, so npm skips it
// on other platforms exactly as it would skip the real one. Run after every `npm install`:
//   node scripts/complete-lockfile.mjs
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const packages = lock.packages;

const OS = [["darwin", "darwin"], ["win32", "win32"], ["linux", "linux"], ["android", "android"], ["freebsd", "freebsd"]];
const CPU = [["arm64", "arm64"], ["aarch64", "arm64"], ["x64", "x64"], ["x86_64", "x64"], ["ia32", "ia32"], ["armv7", "arm"], ["arm-", "arm"], ["riscv64", "riscv64"], ["s390x", "s390x"], ["ppc64", "ppc64"]];

function platformOf(name) {
  const base = name.split("/").pop();
  const os = OS.find(([k]) => base.includes(k))?.[1];
  const cpu = CPU.find(([k]) => base.includes(k))?.[1];
  const libc = base.includes("musl") ? "musl" : base.includes("gnu") && os === "linux" ? "glibc" : undefined;
  return os && cpu ? { os, cpu, libc } : undefined;
}

/** Where npm would look for `dep` required from the package installed at `from`. */
function resolves(from, dep) {
  for (let dir = from; ; ) {
    const candidate = `${dir ? `${dir}/` : ""}node_modules/${dep}`;
    if (packages[candidate]) return true;
    if (!dir) return false;
    const i = dir.lastIndexOf("/node_modules/");
    dir = i < 0 ? "" : dir.slice(0, i);
  }
}

let added = 0;
for (const [location, pkg] of Object.entries(packages)) {
  for (const [dep, spec] of Object.entries(pkg.optionalDependencies ?? {})) {
    if (resolves(location, dep)) continue;
    const platform = platformOf(dep);
    const version = /^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec) ? spec : spec.replace(/^[\^~=]/, "");
    if (!platform || !/^\d/.test(version)) continue; // only platform builds with a concrete version
    const at = `${location ? `${location}/` : ""}node_modules/${dep}`;
    packages[at] = {
      version,
      cpu: [platform.cpu],
      ...(platform.libc ? { libc: [platform.libc] } : {}),
      optional: true,
      os: [platform.os],
    };
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)));
lock.packages = sorted;
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} platform entr${added === 1 ? "y" : "ies"}`);
