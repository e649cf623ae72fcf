-- callvault schema v2 (SQLite): encryption at rest and key management.
--   cfg_ encryption settings, data key versions, key ceremonies, webhooks, the KEK check value
--   op_  stored content objects (recordings, transcripts, e-mails) and background jobs
--   out_ calling lists and activity forms with their records and blind indexes

CREATE TABLE cfg_encryption (
    tenant_id         TEXT PRIMARY KEY REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    encrypt_new       INTEGER NOT NULL,
    cryptoperiod_days INTEGER NOT NULL,
    reminder_days     INTEGER NOT NULL,
    auto_rotate_days  INTEGER,
    blind_key         BLOB NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE cfg_data_key (
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    wrapped     BLOB,
    state       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    reminded_at INTEGER,
    retired_at  INTEGER,
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE cfg_kek_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    provider    TEXT NOT NULL,
    check_value BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE op_object (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    class        TEXT NOT NULL,
    interaction  TEXT,
    service_id   TEXT,
    agents       TEXT NOT NULL,
    contact_ref  TEXT,
    recorded_at  INTEGER NOT NULL,
    consent      INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    blob         TEXT NOT NULL,
    header       BLOB NOT NULL,
    key_version  INTEGER,
    wrapped_key  BLOB,
    created_at   INTEGER NOT NULL
);
-- Jobs and listings walk a tenant's objects in id order after a cursor; key usage counts scan.
CREATE INDEX op_object_tenant ON op_object (tenant_id, id);
CREATE INDEX op_object_interaction ON op_object (tenant_id, interaction);

CREATE TABLE op_job (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    state          TEXT NOT NULL,
    target_version INTEGER,
    objects_total  INTEGER NOT NULL,
    objects_done   INTEGER NOT NULL,
    bytes_total    INTEGER NOT NULL,
    bytes_done     INTEGER NOT NULL,
    failures       INTEGER NOT NULL,
    last_error     TEXT,
    cursor         TEXT,
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    finished_at    INTEGER
);
CREATE INDEX op_job_tenant ON op_job (tenant_id, created_at);

CREATE TABLE cfg_ceremony (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    params      TEXT NOT NULL,
    state       TEXT NOT NULL,
    proposer    TEXT NOT NULL,
    approver    TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    decided_at  INTEGER,
    result      TEXT NOT NULL
);
CREATE INDEX cfg_ceremony_tenant ON cfg_ceremony (tenant_id, created_at);

CREATE TABLE cfg_ceremony_share (
    ceremony_id TEXT NOT NULL REFERENCES cfg_ceremony(id) ON DELETE CASCADE,
    custodian   TEXT NOT NULL,
    share       BLOB,
    picked_at   INTEGER,
    PRIMARY KEY (ceremony_id, custodian)
);

CREATE TABLE cfg_webhook (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE out_list (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    fields     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, kind, name)
);

CREATE TABLE out_record (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    list_id     TEXT NOT NULL REFERENCES out_list(id) ON DELETE CASCADE,
    plain       TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    key_version INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX out_record_list ON out_record (list_id, created_at);
CREATE INDEX out_record_key ON out_record (tenant_id, key_version);

CREATE TABLE out_blind_index (
    list_id   TEXT NOT NULL REFERENCES out_list(id) ON DELETE CASCADE,
    field     TEXT NOT NULL,
    digest    TEXT NOT NULL,
    record_id TEXT NOT NULL REFERENCES out_record(id) ON DELETE CASCADE
);
CREATE INDEX out_blind_index_lookup ON out_blind_index (list_id, field, digest);
CREATE INDEX out_blind_index_record ON out_blind_index (record_id);
