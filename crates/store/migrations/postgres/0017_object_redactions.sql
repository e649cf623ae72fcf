-- callvault schema v17: text content (chat, SMS, e-mail) passes a card-number scanner before it is
--   stored; each object keeps how many card numbers were masked in it (never the numbers).
ALTER TABLE op_object ADD COLUMN redactions BIGINT NOT NULL DEFAULT 0;
