-- callvault schema v2 (PostgreSQL): encryption at rest and key management.
--   cfg_ encryption settings, data key versions, key ceremonies, webhooks, the KEK check value
--   op_  stored content objects (recordings, transcripts, e-mails) and background jobs
--   out_ calling lists and activity forms with their records and blind indexes

CREATE TABLE cfg_encryption (
    tenant_id         TEXT PRIMARY KEY REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    encrypt_new       BIGINT NOT NULL,
    cryptoperiod_days BIGINT NOT NULL,
    reminder_days     BIGINT NOT NULL,
    auto_rotate_days  BIGINT,
    blind_key         BYTEA NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE cfg_data_key (
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    wrapped     BYTEA,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    reminded_at BIGINT,
    retired_at  BIGINT,
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE cfg_kek_check (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    provider    TEXT NOT NULL,
    check_value BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE op_object (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    class        TEXT NOT NULL,
    interaction  TEXT,
    service_id   TEXT,
    agents       TEXT NOT NULL,
    contact_ref  TEXT,
    recorded_at  BIGINT NOT NULL,
    consent      BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    blob         TEXT NOT NULL,
    header       BYTEA NOT NULL,
    key_version  BIGINT,
    wrapped_key  BYTEA,
    created_at   BIGINT NOT NULL
);
-- Jobs and listings walk a tenant's objects in id order after a cursor; key usage counts scan.
CREATE INDEX op_object_tenant ON op_object (tenant_id, id);
CREATE INDEX op_object_interaction ON op_object (tenant_id, interaction);

CREATE TABLE op_job (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    state          TEXT NOT NULL,
    target_version BIGINT,
    objects_total  BIGINT NOT NULL,
    objects_done   BIGINT NOT NULL,
    bytes_total    BIGINT NOT NULL,
    bytes_done     BIGINT NOT NULL,
    failures       BIGINT NOT NULL,
    last_error     TEXT,
    cursor         TEXT,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    finished_at    BIGINT
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
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    decided_at  BIGINT,
    result      TEXT NOT NULL
);
CREATE INDEX cfg_ceremony_tenant ON cfg_ceremony (tenant_id, created_at);

CREATE TABLE cfg_ceremony_share (
    ceremony_id TEXT NOT NULL REFERENCES cfg_ceremony(id) ON DELETE CASCADE,
    custodian   TEXT NOT NULL,
    share       BYTEA,
    picked_at   BIGINT,
    PRIMARY KEY (ceremony_id, custodian)
);

CREATE TABLE cfg_webhook (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    secret     BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE out_list (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    fields     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, kind, name)
);

CREATE TABLE out_record (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    list_id     TEXT NOT NULL REFERENCES out_list(id) ON DELETE CASCADE,
    plain       TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    key_version BIGINT,
    created_at  BIGINT NOT NULL
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
