-- callvault schema v7: logging of individual communication events is off unless a tenant's
--   administrator switches it on for problem solving, for at most 24 hours; the window ends by
--   itself at `until_ms`. One row per tenant: the newest window (ended ones stay until replaced,
--   for the status page).
CREATE TABLE cfg_event_logging (
    tenant_id  TEXT PRIMARY KEY REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    until_ms   BIGINT NOT NULL,
    enabled_by TEXT NOT NULL,
    reason     TEXT NOT NULL,
    enabled_at BIGINT NOT NULL
);
