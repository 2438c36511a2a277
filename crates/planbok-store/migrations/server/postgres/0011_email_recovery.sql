-- Server store, schema 11 (PostgreSQL). Keep in step with ../sqlite/0011_email_recovery.sql.
-- Recovery by email (docs/customer-custody.md, "Recovery by email").

-- The organization's opt-in (off by default; owners switch it on and off).
ALTER TABLE org_settings ADD COLUMN email_recovery BIGINT NOT NULL DEFAULT 0;

-- The customer's email recovery code R, sealed under a key derived from the grant key
-- (a database dump alone does not reveal it); set with a PIN commit that enrolled the
-- code at Node 2. Never W_email: Node 2 holds that.
ALTER TABLE customers ADD COLUMN email_code BYTEA;
-- The code of a PIN commit, written on its challenge before Node 2 commits it (as
-- pending_* for the PIN), so a retry after a crash finishes it.
ALTER TABLE customer_challenges ADD COLUMN pending_email_code BYTEA;

-- Mail the server owes: one row per message, committed with the change that asks for it
-- (a reset-pin challenge by email) and before the message is sent. The message's content
-- is made at send time from the sealed code; nothing secret is stored here. Claimed with
-- a lease (any server replica), retried until the challenge ends.
CREATE TABLE mail_outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    org_id          TEXT    NOT NULL REFERENCES organizations (id),
    customer_id     TEXT    NOT NULL REFERENCES customers (id),
    challenge_id    TEXT    NOT NULL REFERENCES customer_challenges (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('recovery_code')),
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    lease_token     TEXT,
    lease_until_ms  BIGINT,
    last_error      TEXT,
    created_at_ms   BIGINT  NOT NULL,
    sent_at_ms      BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at_ms);
CREATE INDEX mail_outbox_challenge ON mail_outbox (challenge_id);
