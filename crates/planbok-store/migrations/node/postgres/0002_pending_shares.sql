-- Node store, schema 2 (PostgreSQL). Keep in step with ../sqlite/0002_pending_shares.sql.

-- A refreshed share waiting for the two-phase commit, next to the key's active share in
-- node_keys. At most one per key; activation moves it into node_keys in one transaction.
CREATE TABLE pending_shares (
    key_id          TEXT    NOT NULL PRIMARY KEY,
    share_version   BIGINT  NOT NULL,
    sealed_share    BYTEA   NOT NULL,
    format_version  BIGINT  NOT NULL,
    created_at_ms   BIGINT  NOT NULL
);
