-- Node store, schema 5 (SQLite). Keep in step with ../postgres/0005_customer_pins.sql.

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
    sealed_key       BLOB,
    verify_key       BLOB,
    enroll_nonce     BLOB,
    pending_key      BLOB,
    pending_nonce    BLOB,
    attempt_nonce    BLOB,
    rekey_nonce      BLOB,
    rekey_expires_ms INTEGER,
    failures         INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    format_version   INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (org_id, customer_id)
) STRICT;
