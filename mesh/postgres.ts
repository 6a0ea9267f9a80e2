import pg from "pg";
import { log } from "./logger.js";

export interface Migration {
  /** Ordered, never renamed once released: e.g. "0001_documents". */
  id: string;
  sql: string;
}

// Any constant works: it only has to be the same for every replica of a service (each has its own database).
const MIGRATION_LOCK = 72_295_728;

/**
 * Opens a pool and brings the schema up to date before the service takes any call. Each migration runs
 * in its own transaction under an advisory lock, so replicas starting together apply it exactly once and a
 * failed migration leaves nothing half-applied.
 */
export async function openDatabase(url: string, migrations: Migration[], opts: { max?: number } = {}): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
  // An idle client losing its server (restart, failover) must not crash the process; the pool replaces it.
  pool.on("error", (err) => log.warn("idle postgres connection failed", { error: err.message }));
  try {
    await migrate(pool, migrations);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return pool;
}

export async function migrate(pool: pg.Pool, migrations: Migration[]): Promise<string[]> {
  const ids = migrations.map((m) => m.id);
  if (new Set(ids).size !== ids.length) throw new Error(`duplicate migration ids: ${ids.join(", ")}`);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    const done = new Set((await client.query<{ id: string }>("SELECT id FROM schema_migrations")).rows.map((r) => r.id));
    const unknown = [...done].filter((id) => !ids.includes(id));
    if (unknown.length > 0) log.warn("database has migrations this build does not know (newer release?)", { unknown });
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (id) VALUES ($1)", [m.id]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.id} failed: ${(err as Error).message}`);
      }
      applied.push(m.id);
      log.info("migration applied", { migration: m.id });
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
  return applied;
}

/** Runs `fn` in a transaction: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
