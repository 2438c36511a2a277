-- Server store, schema 10 (SQLite). Keep in step with ../postgres/0010_transactions_2.sql.
-- See docs/transactions.md: contract execution, NFTs, cancel and accelerate. SQLite cannot
-- drop a table's inline constraint, so both tables are rebuilt (nothing references them).

-- NFT standards in the token registry (their decimals are 0).
CREATE TABLE tokens_v10 (
    id             TEXT    NOT NULL PRIMARY KEY,
    org_id         TEXT    NOT NULL REFERENCES organizations (id),
    blockchain     TEXT    NOT NULL,
    standard       TEXT    NOT NULL CHECK (standard IN ('erc20', 'erc721', 'erc1155')),
    name           TEXT    NOT NULL,
    symbol         TEXT    NOT NULL,
    decimals       INTEGER NOT NULL CHECK (decimals BETWEEN 0 AND 77),
    address        TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    UNIQUE (org_id, blockchain, address)
) STRICT;
INSERT INTO tokens_v10 SELECT id, org_id, blockchain, standard, name, symbol, decimals,
    address, created_at_ms FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v10 RENAME TO tokens;
CREATE INDEX tokens_org_created ON tokens (org_id, created_at_ms, id);

-- A replacement (cancel, accelerate) reuses its original's nonce: the nonce is unique
-- among first transactions only, and each transaction is replaced at most once (a second
-- accelerate replaces the replacement, so a nonce's transactions form one chain).
-- `abi_*`: contract execution, as the client gave it (parameters as JSON);
-- `nft_token_ids`: NFT transfers (JSON array of decimal strings).
CREATE TABLE transactions_v10 (
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
    replaces                  TEXT    REFERENCES transactions_v10 (id),
    replaced_by               TEXT,
    abi_function_signature    TEXT,
    abi_parameters            TEXT,
    nft_token_ids             TEXT
) STRICT;
INSERT INTO transactions_v10 (id, org_id, wallet_id, blockchain, operation, status,
    source_address, destination_address, token_id, amounts, fee_level, nonce, gas_limit,
    max_fee_per_gas, max_priority_fee_per_gas, raw_tx, tx_hash, network_fee, block_number,
    block_hash, confirmations, error_reason, ref_id, broadcasts, last_broadcast_at_ms,
    next_check_at_ms, lease_token, lease_until_ms, created_at_ms, updated_at_ms)
SELECT id, org_id, wallet_id, blockchain, operation, status, source_address,
    destination_address, token_id, amounts, fee_level, nonce, gas_limit, max_fee_per_gas,
    max_priority_fee_per_gas, raw_tx, tx_hash, network_fee, block_number, block_hash,
    confirmations, error_reason, ref_id, broadcasts, last_broadcast_at_ms, next_check_at_ms,
    lease_token, lease_until_ms, created_at_ms, updated_at_ms FROM transactions;
DROP TABLE transactions;
ALTER TABLE transactions_v10 RENAME TO transactions;
CREATE INDEX transactions_org_created ON transactions (org_id, created_at_ms, id);
CREATE INDEX transactions_due ON transactions (status, next_check_at_ms);
CREATE INDEX transactions_hash ON transactions (tx_hash);
CREATE UNIQUE INDEX transactions_first_nonce ON transactions (blockchain, source_address, nonce)
    WHERE replaces IS NULL;
CREATE UNIQUE INDEX transactions_replaces ON transactions (replaces) WHERE replaces IS NOT NULL;
CREATE INDEX transactions_nonce ON transactions (blockchain, source_address, nonce);
