-- Node store, schema 6 (SQLite). Keep in step with ../postgres/0006_customer_keys.sql.

-- Customer custody. A customer's key is recorded with the customer it belongs to, from
-- the server's DKG grant (grant::customer_dkg_params), on both nodes; its custody_mode is
-- 'trustless' (exportable; Node 1's share wrapped under a secret no node keeps: the
-- customer's), and customer_id NOT NULL is what makes it a customer's key: Node 1 then
-- takes only that customer's secret for it, Node 2 only a permit of that customer's.
ALTER TABLE node_keys ADD COLUMN customer_id TEXT;

-- Node 2: permits from a customer's PIN unlock (customer_op::permit_message), one per
-- operation of the challenge it names (op_digest = customer_op::op_digest). A DKG, sign
-- or export of the customer's key deletes its permit in the statement that checks it
-- (single use); expired rows are refused and pruned.
CREATE TABLE customer_permits (
    org_id        TEXT    NOT NULL,
    customer_id   TEXT    NOT NULL,
    challenge_id  TEXT    NOT NULL,
    op_digest     BLOB   NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (org_id, customer_id, challenge_id, op_digest)
) STRICT;
CREATE INDEX customer_permits_expiry ON customer_permits (expires_at_ms);

-- Node 1: a verifier of each customer's secret (wrap::secret_verifier, another HKDF label
-- than the share wrapping key), recorded at the customer's first DKG, so a later
-- operation with another secret is refused before a share is touched.
CREATE TABLE customer_secrets (
    org_id        TEXT    NOT NULL,
    customer_id   TEXT    NOT NULL,
    verifier      BLOB   NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (org_id, customer_id)
) STRICT;
