-- callvault schema v20: several nodes share the key jobs. A node claims a running job with a
-- lease (its node id and an expiry, renewed by its heartbeat and by every progress commit); a
-- job whose lease expired is taken over by another node, which resumes at the job's cursor.
ALTER TABLE op_job ADD COLUMN lease_owner TEXT;
ALTER TABLE op_job ADD COLUMN lease_until BIGINT;
