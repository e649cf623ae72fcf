-- callvault schema v19: a calling list or form may belong to a service or campaign; the agents
-- assigned to that service read its records.
ALTER TABLE out_list ADD COLUMN service_id TEXT REFERENCES cfg_service(id) ON DELETE SET NULL;
