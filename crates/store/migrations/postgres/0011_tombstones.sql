-- callvault schema v11: tombstones. An object or interaction removed by the purge (or, later, an
--   erasure) keeps its id, category, time and reason, so its routes answer "erased" (410) instead
--   of "no such" (404). A tombstone holds no personal data.
CREATE TABLE op_tombstone (
    tenant_id TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    id        TEXT NOT NULL,
    category  TEXT NOT NULL,
    erased_at BIGINT NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);
