-- Server store, schema 4 (PostgreSQL). Keep in step with ../sqlite/0004_webhooks.sql.

-- Webhook endpoints. `events`: a JSON array of event names, or ["*"]. The secrets are
-- stored encrypted by the server (AES-256-GCM under a key derived from its grant key,
-- bound to the endpoint id), never in plain text; `previous_secret` stays valid until
-- `previous_expires_at_ms` (rotation). `failing_since_ms`: the first failure of the
-- current run of failures, cleared by a success.
CREATE TABLE webhook_endpoints (
    id                     TEXT    NOT NULL PRIMARY KEY,
    org_id                 TEXT    NOT NULL REFERENCES organizations (id),
    url                    TEXT    NOT NULL,
    description            TEXT,
    events                 TEXT    NOT NULL,
    enabled                BIGINT  NOT NULL CHECK (enabled IN (0, 1)),
    disabled_reason        TEXT,
    secret                 BYTEA   NOT NULL,
    previous_secret        BYTEA,
    previous_expires_at_ms BIGINT,
    failing_since_ms       BIGINT,
    created_at_ms          BIGINT  NOT NULL,
    updated_at_ms          BIGINT  NOT NULL
);
CREATE INDEX webhook_endpoints_org_created ON webhook_endpoints (org_id, created_at_ms, id);

-- The outbox: one row per event, written in the transaction of the change it reports.
-- `body` is the exact JSON every attempt sends. `dedupe`: an event that must exist at
-- most once per organization (e.g. `key.disabled:<key>`).
CREATE TABLE webhook_events (
    id             TEXT    NOT NULL PRIMARY KEY,
    org_id         TEXT    NOT NULL REFERENCES organizations (id),
    event          TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    dedupe         TEXT,
    created_at_ms  BIGINT  NOT NULL,
    UNIQUE (org_id, dedupe)
);
CREATE INDEX webhook_events_org_created ON webhook_events (org_id, created_at_ms, id);

-- One row per (event, endpoint) to deliver, and one more per replay. `attempts` counts
-- the attempts started (committed before each is sent); `lease_token`/`lease_until_ms`
-- belong to the worker that claimed it; a lapsed lease makes it due again.
CREATE TABLE webhook_deliveries (
    id                  TEXT    NOT NULL PRIMARY KEY,
    org_id              TEXT    NOT NULL REFERENCES organizations (id),
    event_id            TEXT    NOT NULL REFERENCES webhook_events (id),
    endpoint_id         TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'delivering', 'succeeded', 'failed')),
    attempts            BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at_ms  BIGINT  NOT NULL,
    lease_token         TEXT,
    lease_until_ms      BIGINT,
    last_attempt_at_ms  BIGINT,
    last_status_code    BIGINT,
    last_error          TEXT,
    replay_of           TEXT,
    created_at_ms       BIGINT  NOT NULL,
    updated_at_ms       BIGINT  NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, status);
CREATE INDEX webhook_deliveries_endpoint_created ON webhook_deliveries (endpoint_id, created_at_ms, id);
