-- Node store, schema 8 (SQLite). Keep in step with ../postgres/0008_customer_email.sql.

-- Customer recovery by email, on Node 2 only: a third factor with a counter of its own.
-- The code R is a random key (no OPRF key here): Node 2 holds the code's unlock public
-- key and W_email (the customer secret wrapped under a key derived from R) and hands
-- W_email out only to an unlock signed with R's key for the current attempt nonce. As
-- for the questions, that unlock issues the PIN's rekey nonce. Written only inside a PIN
-- commit, signed by the new PIN's unlock key (enroll_nonce = hash of wrapped).
CREATE TABLE customer_email (
    org_id         TEXT    NOT NULL,
    customer_id    TEXT    NOT NULL,
    wrapped        BLOB,
    verify_key     BLOB,
    enroll_nonce   BLOB,
    attempt_nonce  BLOB,
    failures       INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    format_version INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (org_id, customer_id)
) STRICT;
