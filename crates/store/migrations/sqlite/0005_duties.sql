-- callvault schema v5 (SQLite): separation of duties and dual control over people.
--   Who created each account and who last set its password or second factor (a custodian is
--   never appointed by the person who controls their account), and the provider operators who
--   may approve provider ceremonies (a set changed only under dual control). Operators that
--   existed before this version were all trusted equally, so they all start in the set.

ALTER TABLE cfg_operator ADD COLUMN created_by TEXT;
ALTER TABLE cfg_operator ADD COLUMN credentials_set_by TEXT;
ALTER TABLE cfg_operator ADD COLUMN may_approve INTEGER NOT NULL DEFAULT 0;
UPDATE cfg_operator SET may_approve = 1;
ALTER TABLE cfg_user ADD COLUMN created_by TEXT;
ALTER TABLE cfg_credential ADD COLUMN credentials_set_by TEXT;

-- Capture agents: the capture id is unique per tenant, the key digest across all (the HEP
-- listener finds an agent by its key), so one tenant's id neither collides with nor reveals
-- another's.
CREATE TABLE cfg_capture_agent_v5 (
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    capture_id  INTEGER NOT NULL,
    name        TEXT NOT NULL,
    key_sha256  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, capture_id)
);
INSERT INTO cfg_capture_agent_v5 (tenant_id, capture_id, name, key_sha256, created_at)
    SELECT tenant_id, capture_id, name, key_sha256, created_at FROM cfg_capture_agent;
DROP TABLE cfg_capture_agent;
ALTER TABLE cfg_capture_agent_v5 RENAME TO cfg_capture_agent;

-- Service-account tokens may carry a lifetime; rotation starts it again.
ALTER TABLE cfg_service_account ADD COLUMN expires_at INTEGER;
ALTER TABLE cfg_service_account ADD COLUMN token_lifetime_days INTEGER;

-- The e-mail address a user confirmed themself (an administrator's edit of the directory does
-- not change it), and one-time codes (login step-up, address confirmation) as digests.
ALTER TABLE cfg_credential ADD COLUMN confirmed_email TEXT;
CREATE TABLE op_one_time_code (
    principal  TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    target     TEXT,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (principal, purpose)
);
