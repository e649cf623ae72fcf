-- callvault schema v12: data protection officers' requests (access, export, rectification,
--   erasure), the links of calling-list records to subjects, do-not-call entries kept as keyed
--   digests after an erasure, and the request an erasure's tombstone belongs to.
CREATE TABLE op_dpo_request (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    subject_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    -- The subject while the request is open or running, NULL after: one open request per subject.
    open_subject    TEXT,
    details         TEXT NOT NULL,
    outcome         TEXT,
    requested_by    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    extended_reason TEXT,
    completed_at    BIGINT
);
CREATE UNIQUE INDEX op_dpo_request_open ON op_dpo_request (tenant_id, open_subject);
CREATE INDEX op_dpo_request_tenant ON op_dpo_request (tenant_id, created_at);

CREATE TABLE op_record_identifier (
    record_id  TEXT NOT NULL REFERENCES out_record(id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    list_id    TEXT NOT NULL,
    field      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    blind      TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    PRIMARY KEY (record_id, field)
);
CREATE INDEX op_record_identifier_subject ON op_record_identifier (tenant_id, subject_id);

CREATE TABLE cfg_dnc_digest (
    list_id  TEXT NOT NULL REFERENCES cfg_dnc_list(id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (list_id, digest)
);

ALTER TABLE op_tombstone ADD COLUMN request_id TEXT;

-- One tenant's run of the retention purge: progress while it runs; a run the process stopped
--   in is resumed by the next purge.
CREATE TABLE op_purge_run (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    resumed       BIGINT NOT NULL,
    objects       BIGINT NOT NULL,
    blobs_removed BIGINT NOT NULL,
    interactions  BIGINT NOT NULL,
    held          BIGINT NOT NULL,
    shred_ms      BIGINT NOT NULL,
    blob_ms       BIGINT NOT NULL
);
CREATE INDEX op_purge_run_tenant ON op_purge_run (tenant_id, started_at);
