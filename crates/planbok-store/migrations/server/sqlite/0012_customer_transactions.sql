-- Server store, schema 12 (SQLite). Keep in step with ../postgres/0012_customer_transactions.sql.
-- Customer transactions (docs/customer-custody.md, "Customer transactions").

-- A customer transaction challenge's nonce and fees, fixed when the Gateway prepares it
-- (JSON: the fields, the nonce lease's token and expiry). The transaction is signed
-- from exactly these; the lease keeps the nonce from any other transaction until the
-- challenge completes or the lease lapses.
ALTER TABLE customer_challenges ADD COLUMN prepared TEXT;
