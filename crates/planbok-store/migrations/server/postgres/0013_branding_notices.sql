-- Server store, schema 13 (PostgreSQL). Keep in step with ../sqlite/0013_branding_notices.sql.
-- The organization's branding on the Gateway, and security notices mailed to customers
-- (docs/gateway.md, "Branding"; docs/customer-custody.md, "Security notices by email").

-- The organization's opt-in to security notices (off by default; owners switch it).
ALTER TABLE org_settings ADD COLUMN email_notices BIGINT NOT NULL DEFAULT 0;

-- How the Gateway shows the organization: its colours and logo (a PNG or JPEG of at most
-- 64 KiB, checked by the server; never SVG, which can carry script). One row per
-- organization that set any; none means the Gateway's own look.
CREATE TABLE org_branding (
    org_id           TEXT    NOT NULL PRIMARY KEY REFERENCES organizations (id),
    primary_color    TEXT,
    background_color TEXT,
    logo_type        TEXT    CHECK (logo_type IN ('image/png', 'image/jpeg')),
    logo             BYTEA,
    updated_at_ms    BIGINT  NOT NULL,
    CHECK ((logo IS NULL) = (logo_type IS NULL))
);

-- The outbox carries security notices too: no secret in any of them (what happened and
-- when; the message is made at send time).
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check
    CHECK (kind IN ('recovery_code', 'pin_changed', 'pin_reset', 'locked_out', 'keys_exported'));
