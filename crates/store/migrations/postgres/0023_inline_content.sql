-- Small content (chat and SMS transcripts, e-mails) kept with its object's row: the sealed blob
-- bytes, written in the transaction that writes the row, so many uploads share one commit
-- (group commit) instead of a file and two fsyncs each. NULL for content in the blob store.
ALTER TABLE op_object ADD COLUMN inline_blob BYTEA;
