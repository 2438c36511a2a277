-- Node store, schema 2 (SQLite). Keep in step with ../postgres/0002_pending_shares.sql.

-- A refreshed share waiting for the two-phase commit, next to the key's active share in
-- node_keys. At most one per key; activation moves it into node_keys in one transaction.
CREATE TABLE pending_shares (
    key_id          TEXT    NOT NULL PRIMARY KEY,
    share_version   INTEGER NOT NULL,
    sealed_share    BLOB    NOT NULL,
    format_version  INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL
) STRICT;
