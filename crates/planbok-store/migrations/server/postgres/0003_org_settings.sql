-- Server store, schema 3 (PostgreSQL). Keep in step with ../sqlite/0003_org_settings.sql.

-- Organization settings that Node 1 enforces and the server mirrors for display:
-- `require_binding` (only ever switched on).
CREATE TABLE org_settings (
    org_id          TEXT    NOT NULL PRIMARY KEY REFERENCES organizations (id),
    require_binding BIGINT  NOT NULL CHECK (require_binding IN (0, 1)),
    updated_at_ms   BIGINT  NOT NULL
);
