-- Node store, schema 1 (PostgreSQL). Keep in step with ../sqlite/0001_node_schema.sql:
-- same tables, columns and constraints; only the type names differ.

-- One row per key share this node holds. Written 'pending' after DKG, flipped to
-- 'active' once both nodes have stored their share (two-phase commit).
CREATE TABLE node_keys (
    key_id          TEXT    NOT NULL PRIMARY KEY,
    org_id          TEXT    NOT NULL,
    protocol        TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'active')),
    public_key      BYTEA   NOT NULL,
    chain_code      BYTEA,
    sealed_share    BYTEA   NOT NULL,
    share_version   BIGINT  NOT NULL,
    format_version  BIGINT  NOT NULL,
    created_at_ms   BIGINT  NOT NULL
);
CREATE INDEX node_keys_status ON node_keys (status);

-- Authorization grants already used (replay protection).
CREATE TABLE used_grants (
    grant_id       BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(grant_id) = 16),
    expires_at_ms  BIGINT  NOT NULL
);
CREATE INDEX used_grants_expiry ON used_grants (expires_at_ms);

-- SHA-256 digests of encrypted-secret ciphertexts already accepted (replay protection).
CREATE TABLE seen_ciphertexts (
    digest         BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(digest) = 32),
    expires_at_ms  BIGINT  NOT NULL
);
CREATE INDEX seen_ciphertexts_expiry ON seen_ciphertexts (expires_at_ms);

-- Per-organization RSA key pair (Node 1); the private key arrives sealed.
CREATE TABLE org_keys (
    org_id              TEXT    NOT NULL PRIMARY KEY,
    public_key_pem      TEXT    NOT NULL,
    sealed_private_key  BYTEA   NOT NULL,
    format_version      BIGINT  NOT NULL,
    created_at_ms       BIGINT  NOT NULL
);

-- Organization secret registration (Node 1), written once.
CREATE TABLE org_secrets (
    org_id          TEXT    NOT NULL PRIMARY KEY,
    mode            TEXT    NOT NULL CHECK (mode IN ('standard', 'trustless')),
    verifier        BYTEA   NOT NULL CHECK (octet_length(verifier) = 32),
    sealed_secret   BYTEA,
    format_version  BIGINT  NOT NULL,
    created_at_ms   BIGINT  NOT NULL,
    CHECK ((mode = 'standard') = (sealed_secret IS NOT NULL))
);

-- Named singleton blobs (e.g. the CGGMP auxiliary info), sealed.
CREATE TABLE blobs (
    name            TEXT    NOT NULL PRIMARY KEY,
    sealed          BYTEA   NOT NULL,
    format_version  BIGINT  NOT NULL,
    updated_at_ms   BIGINT  NOT NULL
);
