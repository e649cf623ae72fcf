-- callvault schema v10: legal holds. A hold covers a subject, an interaction or a service; what it
--   covers is neither purged nor erased until the hold is released. Released holds stay listed.
CREATE TABLE op_legal_hold (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    scope       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    released_at INTEGER
);
CREATE INDEX op_legal_hold_tenant ON op_legal_hold (tenant_id, released_at);
