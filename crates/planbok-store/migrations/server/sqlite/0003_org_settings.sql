-- Server store, schema 3 (SQLite). Keep in step with ../postgres/0003_org_settings.sql.

-- Organization settings that Node 1 enforces and the server mirrors for display:
-- `require_binding` (only ever switched on).
CREATE TABLE org_settings (
    org_id          TEXT    NOT NULL PRIMARY KEY REFERENCES organizations (id),
    require_binding INTEGER NOT NULL CHECK (require_binding IN (0, 1)),
    updated_at_ms   INTEGER NOT NULL
) STRICT;
