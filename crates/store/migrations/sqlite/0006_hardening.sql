-- callvault schema v6: unseal shares are authenticated against what was issued.
--   The SHA-256 of every KEK share, recorded when the share is issued (first start of the shamir
--   provider, or a kek_backup ceremony), with the backup it belongs to and that backup's
--   threshold. At unseal a share counts only if it matches a record, and the threshold comes
--   from the record, never from the share's own text: a forged share changes nothing.
CREATE TABLE cfg_kek_share (
    digest     TEXT PRIMARY KEY,
    backup     TEXT NOT NULL,
    threshold  BIGINT NOT NULL,
    issued_at  BIGINT NOT NULL
);
