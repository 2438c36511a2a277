-- Server store, schema 8 (PostgreSQL). Keep in step with ../sqlite/0008_customer_wallets.sql.

-- Customer wallets: one wallet set per customer (custody_type 'CUSTOMER', controller
-- customer), made by the customer's first wallet-creation challenge. Its keys are the
-- customer's at both nodes (recorded there from the DKG grants).
ALTER TABLE wallet_sets ADD COLUMN customer_id TEXT;
CREATE UNIQUE INDEX wallet_sets_customer ON wallet_sets (org_id, customer_id)
    WHERE customer_id IS NOT NULL;

-- What an operation challenge authorizes, fixed when the organization creates it (JSON:
-- the chains and the DKGs to run with their key ids; the wallet and the exact request to
-- sign; the keys to export). The Gateway shows it, computes the operations' digests from
-- it on its own and signs them; the server runs exactly these.
ALTER TABLE customer_challenges ADD COLUMN params TEXT;
