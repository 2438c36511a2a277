-- Server store, schema 6 (SQLite). Keep in step with ../postgres/0006_transactions.sql.
-- See docs/transactions.md.

-- Tokens an organization registered (native coins are not stored: their ids are derived
-- from the chain id). `address` is the contract's, lowercase.
CREATE TABLE tokens (
    id             TEXT    NOT NULL PRIMARY KEY,
    org_id         TEXT    NOT NULL REFERENCES organizations (id),
    blockchain     TEXT    NOT NULL,
    standard       TEXT    NOT NULL CHECK (standard IN ('erc20')),
    name           TEXT    NOT NULL,
    symbol         TEXT    NOT NULL,
    decimals       INTEGER NOT NULL CHECK (decimals BETWEEN 0 AND 77),
    address        TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    UNIQUE (org_id, blockchain, address)
) STRICT;
CREATE INDEX tokens_org_created ON tokens (org_id, created_at_ms, id);

-- The nonce allocator: one row per (chain, sending address). `next_nonce` moves only in
-- the transaction that stores a signed transaction with the nonce before it, so no nonce
-- is skipped or given twice. A transfer holds the row's lease (`lease_token`, until
-- `lease_until_ms`) while it estimates and signs; a lapsed lease (its server died) may be
-- taken by the next transfer, and the holder's commit then fails.
CREATE TABLE tx_nonces (
    blockchain      TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    next_nonce      INTEGER NOT NULL,
    lease_token     TEXT,
    lease_until_ms  INTEGER,
    PRIMARY KEY (blockchain, address)
) STRICT;

-- Transactions. `raw_tx` and `tx_hash` are committed before the first broadcast, so a
-- crash re-broadcasts the same bytes. The tracker claims due rows with a lease
-- (`lease_token`, `lease_until_ms`); `next_check_at_ms` is when a row is due.
CREATE TABLE transactions (
    id                        TEXT    NOT NULL PRIMARY KEY,
    org_id                    TEXT    NOT NULL REFERENCES organizations (id),
    wallet_id                 TEXT    NOT NULL REFERENCES wallets (id),
    blockchain                TEXT    NOT NULL,
    operation                 TEXT    NOT NULL,
    status                    TEXT    NOT NULL CHECK (status IN ('queued', 'signed', 'broadcast', 'confirmed', 'failed', 'cancelled', 'replaced')),
    source_address            TEXT    NOT NULL,
    destination_address       TEXT    NOT NULL,
    token_id                  TEXT    NOT NULL,
    amounts                   TEXT    NOT NULL,
    fee_level                 TEXT    NOT NULL,
    nonce                     INTEGER NOT NULL,
    gas_limit                 TEXT    NOT NULL,
    max_fee_per_gas           TEXT    NOT NULL,
    max_priority_fee_per_gas  TEXT    NOT NULL,
    raw_tx                    TEXT    NOT NULL,
    tx_hash                   TEXT    NOT NULL,
    network_fee               TEXT,
    block_number              INTEGER,
    block_hash                TEXT,
    confirmations             INTEGER,
    error_reason              TEXT,
    ref_id                    TEXT,
    broadcasts                INTEGER NOT NULL DEFAULT 0,
    last_broadcast_at_ms      INTEGER,
    next_check_at_ms          INTEGER NOT NULL,
    lease_token               TEXT,
    lease_until_ms            INTEGER,
    created_at_ms             INTEGER NOT NULL,
    updated_at_ms             INTEGER NOT NULL,
    UNIQUE (blockchain, source_address, nonce)
) STRICT;
CREATE INDEX transactions_org_created ON transactions (org_id, created_at_ms, id);
CREATE INDEX transactions_due ON transactions (status, next_check_at_ms);
CREATE INDEX transactions_hash ON transactions (tx_hash);
