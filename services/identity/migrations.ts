import type { Migration } from "#mesh/postgres.js";

export const migrations: Migration[] = [
  {
    id: "0001_identity",
    sql: `
      CREATE TABLE tenants (
        tenant_id    text        PRIMARY KEY,
        display_name text        NOT NULL,
        create_time  timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE users (
        tenant_id    text        NOT NULL REFERENCES tenants ON DELETE CASCADE,
        user_id      uuid        NOT NULL,
        email        text        NOT NULL,
        display_name text        NOT NULL DEFAULT '',
        -- Role enum values (1 reader, 2 editor, 3 admin); never empty.
        roles        smallint[]  NOT NULL CHECK (cardinality(roles) > 0),
        create_time  timestamptz NOT NULL DEFAULT now(),
        update_time  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, user_id),
        UNIQUE (tenant_id, email)
      );
      CREATE TABLE api_keys (
        tenant_id      text        NOT NULL,
        api_key_id     uuid        NOT NULL,
        seq            bigint      GENERATED ALWAYS AS IDENTITY,
        user_id        uuid        NOT NULL,
        name           text        NOT NULL,
        -- Looked up in clear; the secret itself is only in secret_hash (salted scrypt).
        prefix         text        NOT NULL UNIQUE,
        secret_hash    text        NOT NULL,
        role           smallint    NOT NULL,
        -- The operator's bootstrap key: the only holder of tenants.manage.
        operator       boolean     NOT NULL DEFAULT false,
        create_time    timestamptz NOT NULL DEFAULT now(),
        expire_time    timestamptz,
        last_used_time timestamptz,
        revoke_time    timestamptz,
        PRIMARY KEY (tenant_id, api_key_id),
        FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
      );
      CREATE INDEX api_keys_by_seq ON api_keys (tenant_id, seq DESC);
      CREATE TABLE signing_keys (
        kid          text        PRIMARY KEY,
        private_jwk  jsonb       NOT NULL,
        public_jwk   jsonb       NOT NULL,
        create_time  timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE preferences (
        tenant_id          text        NOT NULL,
        user_id            uuid        NOT NULL,
        default_collection text        NOT NULL DEFAULT '',
        default_top_k      integer     NOT NULL DEFAULT 0,
        default_model      text        NOT NULL DEFAULT '',
        language           text        NOT NULL DEFAULT '',
        history_disabled   boolean     NOT NULL DEFAULT false,
        custom             jsonb       NOT NULL DEFAULT '{}',
        update_time        timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, user_id),
        FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
      );
      CREATE TABLE history (
        tenant_id          text        NOT NULL,
        user_id            uuid        NOT NULL,
        history_id         uuid        NOT NULL,
        seq                bigint      GENERATED ALWAYS AS IDENTITY,
        question           text        NOT NULL,
        collection         text        NOT NULL DEFAULT '',
        answer             text        NOT NULL DEFAULT '',
        answered           boolean     NOT NULL DEFAULT false,
        cached             boolean     NOT NULL DEFAULT false,
        cited_document_ids text[]      NOT NULL DEFAULT '{}',
        model              text        NOT NULL DEFAULT '',
        total_ms           double precision NOT NULL DEFAULT 0,
        create_time        timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, history_id),
        FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
      );
      CREATE INDEX history_by_user ON history (tenant_id, user_id, seq DESC);
    `,
  },
  {
    id: "0002_key_revocations",
    sql: `
      -- One row per revoked (or deleted) API key, kept as long as tokens issued for it may live: what
      -- WatchRevocations announces to the gateways. recorded_time is the insert's own clock, which the
      -- watchers poll by (with an overlap for transactions that commit late).
      CREATE TABLE key_revocations (
        api_key_id    uuid        PRIMARY KEY,
        tenant_id     text        NOT NULL,
        revoke_time   timestamptz NOT NULL,
        recorded_time timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      CREATE INDEX key_revocations_by_recorded_time ON key_revocations (recorded_time);
    `,
  },
];
