-- Server store, schema 1 (PostgreSQL). Keep in step with ../sqlite/0001_server_schema.sql:
-- same tables, columns, constraints and triggers; only the type names and the trigger
-- syntax differ.
-- Every id and every time (unix ms) is chosen by the server and passed in.

CREATE TABLE organizations (
    id              TEXT    NOT NULL PRIMARY KEY,
    name            TEXT    NOT NULL,
    custody_mode    TEXT    NOT NULL CHECK (custody_mode IN ('unset', 'standard', 'trustless')),
    created_at_ms   BIGINT  NOT NULL,
    updated_at_ms   BIGINT  NOT NULL
);

CREATE TABLE members (
    id              TEXT    NOT NULL PRIMARY KEY,
    org_id          TEXT    NOT NULL REFERENCES organizations (id),
    name            TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at_ms   BIGINT  NOT NULL,
    updated_at_ms   BIGINT  NOT NULL,
    UNIQUE (org_id, email)
);
CREATE INDEX members_org_created ON members (org_id, created_at_ms, id);

-- member_id has no foreign key on purpose: a deleted member's keys stay, revoked.
-- allowed_ips / allowed_origins: JSON arrays of strings.
CREATE TABLE api_keys (
    id               TEXT    NOT NULL PRIMARY KEY,
    org_id           TEXT    NOT NULL REFERENCES organizations (id),
    member_id        TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    secret_hash      BYTEA   NOT NULL CHECK (octet_length(secret_hash) = 32),
    access           TEXT    NOT NULL CHECK (access IN ('full', 'read_only')),
    allowed_ips      TEXT    NOT NULL,
    allowed_origins  TEXT    NOT NULL,
    created_at_ms    BIGINT  NOT NULL,
    revoked_at_ms    BIGINT,
    last_used_at_ms  BIGINT
);
CREATE INDEX api_keys_org_created ON api_keys (org_id, created_at_ms, id);
CREATE INDEX api_keys_member ON api_keys (org_id, member_id);

-- next_index: the next BIP-32 child index reserve_indices hands out.
CREATE TABLE wallet_sets (
    id               TEXT    NOT NULL PRIMARY KEY,
    org_id           TEXT    NOT NULL REFERENCES organizations (id),
    name             TEXT    NOT NULL,
    custody_type     TEXT    NOT NULL,
    ecdsa_protocol   TEXT    NOT NULL CHECK (ecdsa_protocol IN ('cggmp', 'dkls23')),
    secp_key_id      TEXT    NOT NULL,
    secp_public_key  BYTEA   NOT NULL CHECK (octet_length(secp_public_key) = 33),
    secp_chain_code  BYTEA   NOT NULL CHECK (octet_length(secp_chain_code) = 32),
    ed_key_id        TEXT    NOT NULL,
    ed_public_key    BYTEA   NOT NULL CHECK (octet_length(ed_public_key) = 32),
    next_index       BIGINT  NOT NULL DEFAULT 0 CHECK (next_index >= 0),
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL,
    UNIQUE (org_id, id)
);
CREATE INDEX wallet_sets_org_created ON wallet_sets (org_id, created_at_ms, id);

-- (org_id, wallet_set_id) references the set within the same organization, so a
-- wallet can never hang under another organization's set.
CREATE TABLE wallets (
    id               TEXT    NOT NULL PRIMARY KEY,
    org_id           TEXT    NOT NULL,
    wallet_set_id    TEXT    NOT NULL,
    blockchain       TEXT    NOT NULL,
    address          TEXT    NOT NULL,
    public_key       BYTEA   NOT NULL,
    key_id           TEXT    NOT NULL,
    derivation_path  TEXT    NOT NULL,
    hd_index         BIGINT  NOT NULL CHECK (hd_index >= 0),
    ref_id           TEXT,
    name             TEXT,
    state            TEXT    NOT NULL,
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL,
    FOREIGN KEY (org_id, wallet_set_id) REFERENCES wallet_sets (org_id, id),
    UNIQUE (wallet_set_id, blockchain, hd_index)
);
CREATE INDEX wallets_org_created ON wallets (org_id, created_at_ms, id);
CREATE INDEX wallets_org_address ON wallets (org_id, address);
CREATE INDEX wallets_org_ref ON wallets (org_id, ref_id);

-- Idempotency records: 'running' while the first request works (its lease counted from
-- started_at_ms), 'done' with the response to replay.
CREATE TABLE idempotency (
    org_id          TEXT    NOT NULL,
    idem_key        TEXT    NOT NULL,
    route           TEXT    NOT NULL,
    fingerprint     BYTEA   NOT NULL CHECK (octet_length(fingerprint) = 32),
    state           TEXT    NOT NULL CHECK (state IN ('running', 'done')),
    started_at_ms   BIGINT  NOT NULL,
    status          BIGINT,
    body            TEXT,
    PRIMARY KEY (org_id, idem_key),
    CHECK ((state = 'done') = (status IS NOT NULL AND body IS NOT NULL))
);
CREATE INDEX idempotency_started ON idempotency (started_at_ms);

-- The last entry of each audit chain (seq 0 and 64 zeros before the first). Appends
-- take this row's lock first, so they serialize per chain.
CREATE TABLE audit_heads (
    chain   TEXT    NOT NULL PRIMARY KEY,
    seq     BIGINT  NOT NULL CHECK (seq >= 0),
    hash    TEXT    NOT NULL
);

-- Append-only, hash-chained per chain (an organization id, or 'system'). detail is
-- canonical JSON. See docs/storage.md for the hash input.
CREATE TABLE audit_entries (
    chain        TEXT    NOT NULL,
    seq          BIGINT  NOT NULL CHECK (seq >= 1),
    version      BIGINT  NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    at_ms        BIGINT  NOT NULL,
    actor        TEXT    NOT NULL,
    api_key_id   TEXT,
    ip           TEXT,
    user_agent   TEXT,
    action       TEXT    NOT NULL,
    target       TEXT,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('success', 'failure', 'requested')),
    request_id   TEXT    NOT NULL,
    detail       TEXT    NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_entries_at ON audit_entries (chain, at_ms);
CREATE INDEX audit_entries_action ON audit_entries (chain, action, at_ms);
CREATE INDEX audit_entries_actor ON audit_entries (chain, actor, at_ms);

-- The database itself refuses to change or remove an audit entry. (TRUNCATE is refused
-- too; SQLite has no TRUNCATE, its DELETE is caught above.)
CREATE FUNCTION audit_entries_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_refuse_change();
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_refuse_change();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_refuse_change();
