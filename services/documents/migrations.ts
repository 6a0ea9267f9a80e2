import type { Migration } from "#mesh/postgres.js";

export const migrations: Migration[] = [
  {
    id: "0001_documents",
    sql: `
      CREATE TABLE documents (
        tenant_id      text        NOT NULL,
        document_id    uuid        NOT NULL,
        -- Listing order: newest first, stable across pages even when create times tie.
        seq            bigint      GENERATED ALWAYS AS IDENTITY,
        collection     text        NOT NULL,
        title          text        NOT NULL,
        filename       text        NOT NULL DEFAULT '',
        content_type   text        NOT NULL,
        source_uri     text        NOT NULL DEFAULT '',
        tags           text[]      NOT NULL DEFAULT '{}',
        metadata       jsonb       NOT NULL DEFAULT '{}',
        body           text        NOT NULL,
        content_hash   text        NOT NULL,
        size_bytes     bigint      NOT NULL,
        text_length    integer     NOT NULL,
        chunk_count    integer     NOT NULL DEFAULT 0,
        status         text        NOT NULL CHECK (status IN ('PENDING', 'INDEXING', 'INDEXED', 'FAILED')),
        status_message text        NOT NULL DEFAULT '',
        version        bigint      NOT NULL DEFAULT 1,
        create_time    timestamptz NOT NULL DEFAULT now(),
        update_time    timestamptz NOT NULL DEFAULT now(),
        index_time     timestamptz,
        -- The tenant leads every key: no query can reach a row without naming its tenant.
        PRIMARY KEY (tenant_id, document_id)
      );
      CREATE UNIQUE INDEX documents_by_seq ON documents (tenant_id, seq DESC);
      CREATE INDEX documents_by_tag ON documents USING gin (tags);
      CREATE INDEX documents_by_hash ON documents (tenant_id, collection, content_hash);
    `,
  },
  {
    id: "0002_chunks",
    sql: `
      CREATE TABLE chunks (
        tenant_id     text    NOT NULL,
        document_id   uuid    NOT NULL,
        chunk_index   integer NOT NULL CHECK (chunk_index >= 0),
        chunk_id      uuid    NOT NULL,
        text          text    NOT NULL,
        -- Unicode code points into the document's normalised text: text is exactly body[start_offset, end_offset).
        start_offset  integer NOT NULL CHECK (start_offset >= 0),
        end_offset    integer NOT NULL CHECK (end_offset > start_offset),
        heading_path  text[]  NOT NULL DEFAULT '{}',
        content_hash  text    NOT NULL,
        token_count   integer NOT NULL,
        -- Listing order is document order: the key serves ListChunks pages directly.
        PRIMARY KEY (tenant_id, document_id, chunk_index),
        -- Chunk ids derive from the (globally unique) document id, so they are unique too.
        UNIQUE (tenant_id, chunk_id),
        FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, document_id) ON DELETE CASCADE
      );
    `,
  },
];
