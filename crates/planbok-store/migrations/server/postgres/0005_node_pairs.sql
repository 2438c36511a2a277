-- Server store, schema 5 (PostgreSQL). Keep in step with ../sqlite/0005_node_pairs.sql.

-- The node pair an organization's keys live on, fixed at creation. Organizations created
-- before pairs existed are on the pair `[node1]` configures, named 'default'.
ALTER TABLE organizations ADD COLUMN node_pair TEXT NOT NULL DEFAULT 'default';
CREATE INDEX organizations_node_pair ON organizations (node_pair);
