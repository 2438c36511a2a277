-- Node store, schema 5 (PostgreSQL). Keep in step with ../sqlite/0005_customer_pins.sql.

-- Customer PINs, on Node 2 only: each customer's OPRF key (sealed by the keystore), the
-- unlock public key of the enrolled PIN, and the guess counter. `failures` counts
-- evaluations not yet followed by an unlock; it is raised in the same statement that
-- refuses it past the limit, before any evaluation. `attempt_nonce`: the nonce an unlock
-- must sign (one per evaluation); `rekey_nonce`: a one-time permission, from an unlock,
-- to enroll a new PIN; `pending_*`: an enrollment not yet committed; `enroll_nonce`: the
-- nonce of the committed one (a repeated commit succeeds).
CREATE TABLE customer_pins (
    org_id           TEXT    NOT NULL,
    customer_id      TEXT    NOT NULL,
    sealed_key       BYTEA,
    verify_key       BYTEA,
    enroll_nonce     BYTEA,
    pending_key      BYTEA,
    pending_nonce    BYTEA,
    attempt_nonce    BYTEA,
    rekey_nonce      BYTEA,
    rekey_expires_ms BIGINT,
    failures         BIGINT  NOT NULL DEFAULT 0 CHECK (failures >= 0),
    format_version   BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL,
    PRIMARY KEY (org_id, customer_id)
);
