-- Node store, schema 7 (PostgreSQL). Keep in step with ../sqlite/0007_customer_recovery.sql.

-- Customer recovery by security questions, on Node 2 only: a second factor with the same
-- shape as customer_pins and a counter of its own (a wrong answer never spends a PIN
-- attempt, nor the other way round). Its unlock does not reset anything of the PIN: it
-- issues the PIN's rekey nonce (customer_pins.rekey_nonce), so a new PIN can be enrolled.
-- An enrollment is committed only with a signature by the enrolled PIN's unlock key.
CREATE TABLE customer_recovery (
    org_id         TEXT    NOT NULL,
    customer_id    TEXT    NOT NULL,
    sealed_key     BYTEA,
    verify_key     BYTEA,
    enroll_nonce   BYTEA,
    pending_key    BYTEA,
    pending_nonce  BYTEA,
    attempt_nonce  BYTEA,
    failures       BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0),
    format_version BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (org_id, customer_id)
);
