-- callvault schema v9: retention policies. Per tenant, per category of personal data, tenant-wide
--   (service_id NULL) or for one service or campaign; where several apply the longest wins.
CREATE TABLE cfg_retention_policy (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    category   TEXT NOT NULL,
    service_id TEXT REFERENCES cfg_service(id) ON DELETE CASCADE,
    days       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX cfg_retention_policy_tenant ON cfg_retention_policy (tenant_id, category);
