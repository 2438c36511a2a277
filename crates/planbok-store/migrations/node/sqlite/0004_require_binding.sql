-- Node store, schema 4 (SQLite). Keep in step with ../postgres/0004_require_binding.sql.

-- An organization that requires every encrypted secret to carry a binding (sign and dkg
-- too, not only verify). Node 1 enforces it on its own; it is only ever switched on.
ALTER TABLE org_secrets ADD COLUMN require_binding INTEGER NOT NULL DEFAULT 0
    CHECK (require_binding IN (0, 1));
