-- callvault schema v13: optional categories of personal data a tenant, or one user (directory
--   information), does not collect. No row: collected (the default).
CREATE TABLE cfg_collection_off (
    tenant_id TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    -- '' for the whole tenant, else the user's id.
    user_id   TEXT NOT NULL,
    category  TEXT NOT NULL,
    since     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, category)
);
