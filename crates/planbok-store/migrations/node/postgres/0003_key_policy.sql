-- Node store, schema 3 (PostgreSQL). Keep in step with ../sqlite/0003_key_policy.sql.

-- What each node records of a key's policy on its own, so that neither node takes the
-- other's word for it.
--
-- custody_mode: the organization's custody mode when the key was generated, from the DKG
-- grant (both nodes check it against the server's signature). Only 'trustless' keys are
-- exportable. NULL: not recorded (a key made before this schema); such a key is never
-- exported until an operator of this node confirms its mode (Operator.KeyCustody).
ALTER TABLE node_keys ADD COLUMN custody_mode TEXT
    CHECK (custody_mode IN ('standard', 'trustless'));

-- Set once, never cleared: DKLs23 asked to ban the counterparty during a run with this key
-- (continuing would leak the key). Every later sign, refresh or export is refused.
ALTER TABLE node_keys ADD COLUMN disabled_at_ms BIGINT;
ALTER TABLE node_keys ADD COLUMN disabled_reason TEXT;

-- Node 1 knows each organization's mode (org_secrets, written once and permanent): its
-- existing keys take it. Node 2 has no org_secrets rows, so its existing keys stay NULL
-- and fail closed.
UPDATE node_keys SET custody_mode =
    (SELECT s.mode FROM org_secrets s WHERE s.org_id = node_keys.org_id);
