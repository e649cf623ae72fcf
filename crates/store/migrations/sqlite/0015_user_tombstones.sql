-- callvault schema v15: a deleted user's name, kept while stored content still names the user as
--   an agent (so recordings can still say whose they were), removed by the purge once none does.
CREATE TABLE op_user_tombstone (
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL,
    deleted_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
