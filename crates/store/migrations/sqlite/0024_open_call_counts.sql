-- The same table as on PostgreSQL, where nodes sharing the database count calls not ended in it
-- for the caps on tracked calls; one node on SQLite counts its calls in memory and leaves it
-- empty (no trigger).
CREATE TABLE op_call_open (
    tenant_id TEXT PRIMARY KEY,
    open      INTEGER NOT NULL
);
