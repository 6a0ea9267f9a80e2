import { randomUUID } from "node:crypto";
import pg from "pg";
import { errorFields, log } from "#mesh/logger.js";
import type { JobRow, JobStore } from "./store.js";

/** Advisory-lock namespace of ingestion workers (first key of the two-key lock form). */
const WORKER_LOCK_NAMESPACE = 0x1e57;

/**
 * A worker's proof of life: a session advisory lock held on a connection of its own for as long as the
 * process lives. Postgres drops the lock when that connection ends, crash or not, so another process can
 * tell a dead worker from a live one without clocks or heartbeats.
 */
export class WorkerLease {
  private client: pg.Client | undefined;

  private constructor(
    private readonly url: string,
    readonly workerId: string,
  ) {}

  static async acquire(url: string): Promise<WorkerLease> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const lease = new WorkerLease(url, randomUUID());
      if (await lease.hold()) return lease; // false only on a hash collision with a live worker: pick another id
    }
    throw new Error("could not take a worker lock in Postgres");
  }

  /** Takes (or re-takes, after a lost connection) the lock; false when another session holds it. */
  private async hold(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url, keepAlive: true });
    client.on("error", (err) => {
      log.warn("worker lock connection lost; re-taking it at the next sweep", { error: err.message });
      if (this.client === client) this.client = undefined;
    });
    await client.connect();
    const res = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [WORKER_LOCK_NAMESPACE, this.workerId]);
    if (!res.rows[0]?.ok) {
      await client.end().catch(() => undefined);
      return false;
    }
    this.client = client;
    return true;
  }

  /** Called periodically: makes sure the lock is still held after a connection loss. */
  async ensureHeld(): Promise<void> {
    if (this.client) return;
    try {
      if (!(await this.hold())) log.error("worker lock is held by another session; jobs of this worker may be swept", { worker_id: this.workerId });
    } catch (err) {
      log.warn("could not re-take the worker lock", errorFields(err));
    }
  }

  /** Whether the worker `workerId` is alive, i.e. some session holds its lock. */
  static async isAlive(pool: pg.Pool, workerId: string): Promise<boolean> {
    const client = await pool.connect();
    try {
      const res = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [WORKER_LOCK_NAMESPACE, workerId]);
      if (!res.rows[0]?.ok) return true;
      await client.query("SELECT pg_advisory_unlock($1, hashtext($2))", [WORKER_LOCK_NAMESPACE, workerId]);
      return false;
    } finally {
      client.release();
    }
  }

  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/**
 * Takes over the active jobs of workers that are gone, to resume them (never to fail them: no job fails
 * merely because its process stopped): at start-up (jobs a crash, SIGKILL or SIGTERM left QUEUED or
 * RUNNING) and periodically (another replica that died).
 */
export async function adoptDeadWorkersJobs(store: JobStore, pool: pg.Pool, lease: WorkerLease, onAdopted: (row: JobRow) => void): Promise<void> {
  await lease.ensureHeld();
  for (const worker of await store.otherActiveWorkers(lease.workerId)) {
    if (await WorkerLease.isAlive(pool, worker)) continue;
    const rows = await store.adoptWorkerJobs(worker, lease.workerId);
    if (rows.length > 0) log.warn("took over the jobs of a stopped worker; resuming them", { worker_id: worker, jobs: rows.map((r) => r.job_id) });
    rows.forEach(onAdopted);
  }
}
