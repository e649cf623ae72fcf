-- callvault schema v5 (PostgreSQL): separation of duties and dual control over people.
--   Who created each account and who last set its password or second factor (a custodian is
--   never appointed by the person who controls their account), and the provider operators who
--   may approve provider ceremonies (a set changed only under dual control). Operators that
--   existed before this version were all trusted equally, so they all start in the set.

ALTER TABLE cfg_operator ADD COLUMN created_by TEXT;
ALTER TABLE cfg_operator ADD COLUMN credentials_set_by TEXT;
ALTER TABLE cfg_operator ADD COLUMN may_approve BIGINT NOT NULL DEFAULT 0;
UPDATE cfg_operator SET may_approve = 1;
ALTER TABLE cfg_user ADD COLUMN created_by TEXT;
ALTER TABLE cfg_credential ADD COLUMN credentials_set_by TEXT;
