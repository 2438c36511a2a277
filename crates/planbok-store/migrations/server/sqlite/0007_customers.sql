-- Server store, schema 7 (SQLite). Keep in step with ../postgres/0007_customers.sql.

-- Customers (end users of an organization). `pin_status`: unset, set, locked (Node 2 is
-- the authority on the lock; this is what it last told the server). The PIN's public
-- parts: the Argon2id salt and parameters, and W_pin, the customer secret wrapped under a
-- key only the PIN together with Node 2's OPRF evaluation yields (useless without Node 2).
CREATE TABLE customers (
    id            TEXT    NOT NULL PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES organizations (id),
    name          TEXT    NOT NULL,
    ref_id        TEXT,
    email         TEXT,
    pin_status    TEXT    NOT NULL CHECK (pin_status IN ('unset', 'set', 'locked')),
    pin_salt      BLOB,
    pin_params    TEXT,
    pin_wrap      BLOB,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX customers_org_created ON customers (org_id, created_at_ms, id);

-- Challenges: one operation a customer completes in the Gateway. `token_hash`: SHA-256
-- of the one-time token carried in the Gateway URL's fragment (the token itself is never
-- stored). `pending_*`: a PIN enrollment written before Node 2 commits it, so a retry
-- after a crash finishes it. `result`: JSON, once complete.
CREATE TABLE customer_challenges (
    id              TEXT    NOT NULL PRIMARY KEY,
    org_id          TEXT    NOT NULL REFERENCES organizations (id),
    customer_id     TEXT    NOT NULL REFERENCES customers (id),
    kind            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'complete', 'failed', 'expired')),
    token_hash      BLOB    NOT NULL UNIQUE,
    return_url      TEXT,
    pending_salt    BLOB,
    pending_params  TEXT,
    pending_wrap    BLOB,
    result          TEXT,
    error_code      TEXT,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    completed_at_ms INTEGER
) STRICT;
CREATE INDEX customer_challenges_customer ON customer_challenges (org_id, customer_id, created_at_ms, id);
CREATE INDEX customer_challenges_expiry ON customer_challenges (expires_at_ms);
