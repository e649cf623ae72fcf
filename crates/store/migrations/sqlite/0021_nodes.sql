-- Several nodes on one database.
-- A number's recent calls are counted in the database (under a lock per number), read by
-- tenant and digest.
CREATE INDEX op_dial_attempt_number ON op_dial_attempt (tenant_id, digest, at);
-- A call's SIP memory (hops to legs, offered suites, early responses) is stored with it, so its
-- legs may reach any node.
ALTER TABLE op_call ADD COLUMN sip_memory TEXT;
