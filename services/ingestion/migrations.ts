import type { Migration } from "#mesh/postgres.js";

export const migrations: Migration[] = [
  {
    id: "0001_jobs",
    sql: `
      CREATE TABLE jobs (
        tenant_id             text        NOT NULL,
        job_id                uuid        NOT NULL,
        -- Listing order: newest first, stable across pages even when create times tie.
        seq                   bigint      GENERATED ALWAYS AS IDENTITY,
        collection            text        NOT NULL,
        display_name          text        NOT NULL DEFAULT '',
        -- JobSource in proto3 JSON, without file bytes and with HTTP header values redacted.
        source                jsonb       NOT NULL,
        mode                  text        NOT NULL,
        poll_interval_seconds integer     NOT NULL DEFAULT 0,
        tags                  text[]      NOT NULL DEFAULT '{}',
        metadata              jsonb       NOT NULL DEFAULT '{}',
        quality_options       jsonb       NOT NULL,
        state                 text        NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'CANCELLING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        progress              jsonb       NOT NULL DEFAULT '{}',
        quality_report        jsonb       NOT NULL DEFAULT '{}',
        item_error_count      integer     NOT NULL DEFAULT 0,
        error                 text        NOT NULL DEFAULT '',
        request_id            text        NOT NULL DEFAULT '',
        -- The process that holds the job (in its queue or running it); see liveness.ts.
        worker_id             text        NOT NULL,
        create_time           timestamptz NOT NULL DEFAULT now(),
        start_time            timestamptz,
        update_time           timestamptz NOT NULL DEFAULT now(),
        end_time              timestamptz,
        PRIMARY KEY (tenant_id, job_id)
      );
      CREATE UNIQUE INDEX jobs_by_seq ON jobs (tenant_id, seq DESC);
      CREATE UNIQUE INDEX jobs_by_request_id ON jobs (tenant_id, request_id) WHERE request_id <> '';
      CREATE INDEX jobs_active ON jobs (worker_id) WHERE state IN ('QUEUED', 'RUNNING', 'CANCELLING');

      -- The first item failures of each job (the contract shows at most 100); item_error_count has them all.
      CREATE TABLE job_item_errors (
        tenant_id text        NOT NULL,
        job_id    uuid        NOT NULL,
        seq       integer     NOT NULL,
        item      text        NOT NULL,
        stage     text        NOT NULL,
        message   text        NOT NULL,
        time      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, job_id, seq),
        FOREIGN KEY (tenant_id, job_id) REFERENCES jobs ON DELETE CASCADE
      );

      -- What was last indexed for each source item: re-ingesting the same bytes is recognised without
      -- sending them to the documents service again.
      CREATE TABLE ingested_items (
        tenant_id    text        NOT NULL,
        collection   text        NOT NULL,
        source_uri   text        NOT NULL,
        document_id  text        NOT NULL,
        raw_hash     text        NOT NULL,
        content_hash text        NOT NULL,
        version      bigint      NOT NULL,
        update_time  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, collection, source_uri)
      );
    `,
  },
  {
    id: "0002_resumable_jobs",
    sql: `
      -- The user who started the job: a resumed job's calls are made on their behalf, as the first run's were.
      ALTER TABLE jobs ADD COLUMN caller_id text NOT NULL DEFAULT '';
      -- WatchJob resume points: event_seq grows with every change a watcher can see (state, progress, an
      -- item failure); state_seq is the event_seq of the last state change.
      ALTER TABLE jobs ADD COLUMN event_seq bigint NOT NULL DEFAULT 1;
      ALTER TABLE jobs ADD COLUMN state_seq bigint NOT NULL DEFAULT 1;
      -- Counters that count exactly the items in job_done_items (the live ones also count items in flight):
      -- where a resumed job starts counting from.
      ALTER TABLE jobs ADD COLUMN checkpoint jsonb;
      ALTER TABLE job_item_errors ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;

      -- The bytes of uploaded files, kept until the job ends, so that a job whose worker died can be resumed.
      CREATE TABLE job_files (
        tenant_id text    NOT NULL,
        job_id    uuid    NOT NULL,
        idx       integer NOT NULL,
        content   bytea   NOT NULL,
        PRIMARY KEY (tenant_id, job_id, idx),
        FOREIGN KEY (tenant_id, job_id) REFERENCES jobs ON DELETE CASCADE
      );

      -- Items a running job has handled (by source URI, or item name for connector failures and skips): a
      -- resumed job skips them. Emptied when the job ends.
      CREATE TABLE job_done_items (
        tenant_id text NOT NULL,
        job_id    uuid NOT NULL,
        item_key  text NOT NULL,
        PRIMARY KEY (tenant_id, job_id, item_key),
        FOREIGN KEY (tenant_id, job_id) REFERENCES jobs ON DELETE CASCADE
      );
    `,
  },
];
