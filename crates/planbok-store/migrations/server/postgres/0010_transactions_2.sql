-- Server store, schema 10 (PostgreSQL). Keep in step with ../sqlite/0010_transactions_2.sql.
-- See docs/transactions.md: contract execution, NFTs, cancel and accelerate.

-- NFT standards in the token registry (their decimals are 0).
ALTER TABLE tokens DROP CONSTRAINT tokens_standard_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_standard_check
    CHECK (standard IN ('erc20', 'erc721', 'erc1155'));

-- A replacement (cancel, accelerate) reuses its original's nonce: the nonce is unique
-- among first transactions only, and each transaction is replaced at most once (a second
-- accelerate replaces the replacement, so a nonce's transactions form one chain).
ALTER TABLE transactions DROP CONSTRAINT transactions_blockchain_source_address_nonce_key;
ALTER TABLE transactions ADD COLUMN replaces TEXT REFERENCES transactions (id);
ALTER TABLE transactions ADD COLUMN replaced_by TEXT;
-- Contract execution: the function and its parameters as the client gave them (JSON).
ALTER TABLE transactions ADD COLUMN abi_function_signature TEXT;
ALTER TABLE transactions ADD COLUMN abi_parameters TEXT;
-- NFT transfers: the token ids (JSON array of decimal strings).
ALTER TABLE transactions ADD COLUMN nft_token_ids TEXT;
CREATE UNIQUE INDEX transactions_first_nonce ON transactions (blockchain, source_address, nonce)
    WHERE replaces IS NULL;
CREATE UNIQUE INDEX transactions_replaces ON transactions (replaces) WHERE replaces IS NOT NULL;
CREATE INDEX transactions_nonce ON transactions (blockchain, source_address, nonce);
