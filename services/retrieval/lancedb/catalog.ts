import { mkdir, open, readdir, readFile, rename } from "node:fs/promises";
import path from "node:path";

/**
 * What the embedded backend knows about each collection beyond its rows: vector dimensions, the write
 * version, and the LanceDB table version that write produced. Stored as one small JSON file per
 * collection, replaced atomically (write, fsync, rename), under <dir>/catalog/<tenant as hex>/.
 *
 * `lanceVersion` makes the version crash-proof: a write commits its rows first and records the new
 * version after. If the process dies in between, the table's version no longer matches the record when
 * it is next opened, and the collection version is bumped then, so equal versions keep meaning equal
 * contents.
 */
export interface CatalogRecord {
  tenant: string;
  name: string;
  dimensions: number;
  version: number;
  lanceVersion: number;
  createTime: string;
  updateTime: string;
}

/** Tenant ids allow upper case and dots; hex keeps folder and table names unambiguous on any file system. */
export function tenantKey(tenant: string): string {
  return Buffer.from(tenant, "utf8").toString("hex");
}

export class Catalog {
  constructor(private readonly root: string) {}

  private file(tenant: string, name: string): string {
    return path.join(this.root, tenantKey(tenant), `${name}.json`);
  }

  async read(tenant: string, name: string): Promise<CatalogRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.file(tenant, name), "utf8")) as CatalogRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async write(record: CatalogRecord): Promise<void> {
    const target = this.file(record.tenant, record.name);
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(`${JSON.stringify(record)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  }

  /** The tenant's collection names, ascending. */
  async names(tenant: string): Promise<string[]> {
    try {
      const files = await readdir(path.join(this.root, tenantKey(tenant)));
      return files.filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -".json".length)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }
}
