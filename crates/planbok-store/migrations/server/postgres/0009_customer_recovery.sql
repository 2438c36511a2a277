-- Server store, schema 9 (PostgreSQL). Keep in step with ../sqlite/0009_customer_recovery.sql.

-- Recovery by security questions: the public parts, as for the PIN. `rec_wrap` is W_rec,
-- the customer secret wrapped under a key that only the answers together with Node 2's
-- OPRF evaluation (a key and counter of their own) yield. `rec_questions`: JSON, the
-- questions (catalog ids or custom texts) and hints, never an answer.
ALTER TABLE customers ADD COLUMN rec_salt BYTEA;
ALTER TABLE customers ADD COLUMN rec_params TEXT;
ALTER TABLE customers ADD COLUMN rec_wrap BYTEA;
ALTER TABLE customers ADD COLUMN rec_questions TEXT;

-- A recovery enrollment written on its challenge before Node 2 commits it (as pending_*
-- for the PIN), so a retry after a crash finishes it.
ALTER TABLE customer_challenges ADD COLUMN pending_rec_salt BYTEA;
ALTER TABLE customer_challenges ADD COLUMN pending_rec_params TEXT;
ALTER TABLE customer_challenges ADD COLUMN pending_rec_wrap BYTEA;
ALTER TABLE customer_challenges ADD COLUMN pending_rec_questions TEXT;
