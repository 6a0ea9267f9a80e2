import type { Migration } from "#mesh/postgres.js";

export const migrations: Migration[] = [
  {
    id: "0001_webhooks",
    sql: `
      CREATE TABLE subscriptions (
        tenant_id            text        NOT NULL,
        subscription_id      uuid        NOT NULL,
        -- Listing order: newest first, stable across pages even when create times tie.
        seq                  bigint      GENERATED ALWAYS AS IDENTITY,
        url                  text        NOT NULL,
        event_types          text[]      NOT NULL DEFAULT '{}',
        description          text        NOT NULL DEFAULT '',
        -- An HMAC key: the service must sign with it, so it is stored as given (not hashed).
        secret               text        NOT NULL,
        state                text        NOT NULL CHECK (state IN ('ACTIVE', 'DISABLED')),
        disabled_reason      text        NOT NULL DEFAULT '',
        consecutive_failures integer     NOT NULL DEFAULT 0,
        create_time          timestamptz NOT NULL DEFAULT now(),
        update_time          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, subscription_id)
      );
      CREATE UNIQUE INDEX subscriptions_by_seq ON subscriptions (tenant_id, seq DESC);

      -- Published events, kept so that publishing the same event_id twice queues it once.
      CREATE TABLE events (
        tenant_id   text        NOT NULL,
        event_id    text        NOT NULL,
        event_type  text        NOT NULL,
        create_time timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, event_id)
      );

      -- The queue: one row per event and subscription, with the body frozen so every attempt signs the same bytes.
      CREATE TABLE deliveries (
        delivery_id       uuid        PRIMARY KEY,
        tenant_id         text        NOT NULL,
        subscription_id   uuid        NOT NULL,
        event_id          text        NOT NULL,
        event_type        text        NOT NULL,
        body              text        NOT NULL,
        state             text        NOT NULL CHECK (state IN ('PENDING', 'RETRYING', 'SUCCEEDED', 'FAILED')),
        attempts          integer     NOT NULL DEFAULT 0,
        next_attempt_time timestamptz NOT NULL DEFAULT now(),
        -- Set while a dispatcher holds the delivery; a crashed holder's lease runs out and another takes it.
        lease_until       timestamptz,
        create_time       timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (tenant_id, subscription_id) REFERENCES subscriptions (tenant_id, subscription_id) ON DELETE CASCADE
      );
      CREATE INDEX deliveries_due ON deliveries (next_attempt_time) WHERE state IN ('PENDING', 'RETRYING');
      CREATE INDEX deliveries_by_subscription ON deliveries (tenant_id, subscription_id);

      -- The delivery log: one row per attempt.
      CREATE TABLE delivery_attempts (
        seq               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id         text        NOT NULL,
        subscription_id   uuid        NOT NULL,
        delivery_id       uuid        NOT NULL,
        event_id          text        NOT NULL,
        event_type        text        NOT NULL,
        attempt           integer     NOT NULL,
        status            text        NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'RETRYING', 'FAILED')),
        http_status       integer     NOT NULL DEFAULT 0,
        error             text        NOT NULL DEFAULT '',
        start_time        timestamptz NOT NULL,
        duration_ms       integer     NOT NULL,
        next_attempt_time timestamptz,
        FOREIGN KEY (tenant_id, subscription_id) REFERENCES subscriptions (tenant_id, subscription_id) ON DELETE CASCADE
      );
      CREATE INDEX delivery_attempts_by_subscription ON delivery_attempts (tenant_id, subscription_id, seq DESC);
      CREATE INDEX delivery_attempts_by_time ON delivery_attempts (start_time);
    `,
  },
];
