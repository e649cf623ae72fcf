-- callvault schema v3 (PostgreSQL): telecom policy (calling areas, rules, do-not-call lists).

CREATE TABLE cfg_dial (
    tenant_id  TEXT PRIMARY KEY REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,
    rules      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE cfg_dial_area (
    tenant_id TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    def       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE cfg_dial_assignment (
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    level      TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    areas      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, level, subject_id)
);

CREATE TABLE cfg_dnc_list (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    country_code BIGINT,
    entries      BIGINT NOT NULL,
    refreshed_at BIGINT,
    file_sha256  TEXT,
    created_at   BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE cfg_dnc_number (
    list_id  TEXT NOT NULL REFERENCES cfg_dnc_list(id) ON DELETE CASCADE,
    number   BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (list_id, number)
);

CREATE TABLE op_dial_attempt (
    tenant_id TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    digest    TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX op_dial_attempt_at ON op_dial_attempt (at);
