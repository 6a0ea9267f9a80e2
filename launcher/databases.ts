/**
 * Per-service databases on one Postgres server, used the same way whether the server is the embedded
 * one or an external DATABASE_URL.
 */
import pg from "pg";

/** The same server URL with its database (path) swapped for `database`. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** Postgres identifiers we create are kept boring so they never need quoting surprises downstream. */
export function assertDatabaseName(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new Error(`database name "${name}" must be lower-case letters, digits and _ (at most 63), starting with a letter or _`);
  }
}

async function withAdminClient<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  // Connect to the database the URL names (the one its user is sure to reach), else the maintenance
  // database "postgres" that every server has.
  const named = new URL(serverUrl).pathname.replace(/^\//, "");
  const client = new pg.Client({ connectionString: named ? serverUrl : databaseUrl(serverUrl, "postgres") });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** CREATE DATABASE unless it exists; returns its URL. Safe to race with another creator. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  assertDatabaseName(name);
  await withAdminClient(serverUrl, async (client) => {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount) return;
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    } catch (err) {
      // 42P04 duplicate_database: someone created it between our check and our CREATE — fine.
      // 23505 unique_violation: the same race, reported from the catalog index.
      const code = (err as { code?: string }).code;
      if (code !== "42P04" && code !== "23505") throw err;
    }
  });
  return databaseUrl(serverUrl, name);
}

/** DROP DATABASE IF EXISTS, disconnecting anyone still attached (Postgres 13+). */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  await withAdminClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`));
}
