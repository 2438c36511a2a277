-- Server store, schema 13 (SQLite). Keep in step with ../postgres/0013_branding_notices.sql.
-- The organization's branding on the Gateway, and security notices mailed to customers
-- (docs/gateway.md, "Branding"; docs/customer-custody.md, "Security notices by email").

-- The organization's opt-in to security notices (off by default; owners switch it).
ALTER TABLE org_settings ADD COLUMN email_notices INTEGER NOT NULL DEFAULT 0;

-- How the Gateway shows the organization: its colours and logo (a PNG or JPEG of at most
-- 64 KiB, checked by the server; never SVG, which can carry script). One row per
-- organization that set any; none means the Gateway's own look.
CREATE TABLE org_branding (
    org_id           TEXT    NOT NULL PRIMARY KEY REFERENCES organizations (id),
    primary_color    TEXT,
    background_color TEXT,
    logo_type        TEXT    CHECK (logo_type IN ('image/png', 'image/jpeg')),
    logo             BLOB,
    updated_at_ms    INTEGER NOT NULL,
    CHECK ((logo IS NULL) = (logo_type IS NULL))
) STRICT;

-- The outbox carries security notices too: no secret in any of them (what happened and
-- when; the message is made at send time). SQLite cannot change a CHECK in place: the
-- table is rebuilt with its rows.
CREATE TABLE mail_outbox_13 (
    id              TEXT    NOT NULL PRIMARY KEY,
    org_id          TEXT    NOT NULL REFERENCES organizations (id),
    customer_id     TEXT    NOT NULL REFERENCES customers (id),
    challenge_id    TEXT    NOT NULL REFERENCES customer_challenges (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('recovery_code', 'pin_changed', 'pin_reset', 'locked_out', 'keys_exported')),
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    lease_token     TEXT,
    lease_until_ms  INTEGER,
    last_error      TEXT,
    created_at_ms   INTEGER NOT NULL,
    sent_at_ms      INTEGER
) STRICT;
INSERT INTO mail_outbox_13 SELECT id, org_id, customer_id, challenge_id, kind, status, attempts,
    next_attempt_at_ms, lease_token, lease_until_ms, last_error, created_at_ms, sent_at_ms
    FROM mail_outbox;
DROP TABLE mail_outbox;
ALTER TABLE mail_outbox_13 RENAME TO mail_outbox;
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at_ms);
CREATE INDEX mail_outbox_challenge ON mail_outbox (challenge_id);
