-- callvault schema v4 (PostgreSQL): call security (stations, capture agents, calls, state changes, alerts).

CREATE TABLE cfg_station (
    tenant_id TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    sip_user  TEXT NOT NULL,
    user_id   TEXT,
    kind      TEXT NOT NULL,
    level     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name),
    UNIQUE (tenant_id, sip_user)
);

CREATE TABLE cfg_capture_agent (
    capture_id  BIGINT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key_sha256  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE cfg_call_alert_optout (
    tenant_id TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE op_call (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    call_key   TEXT NOT NULL,
    source     TEXT NOT NULL,
    security   TEXT NOT NULL,
    state      TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE UNIQUE INDEX op_call_open_key ON op_call (tenant_id, call_key) WHERE ended_at IS NULL;
CREATE INDEX op_call_tenant_started ON op_call (tenant_id, started_at);

CREATE TABLE op_call_change (
    seq       BIGSERIAL PRIMARY KEY,
    call_id   TEXT NOT NULL REFERENCES op_call(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    at        BIGINT NOT NULL,
    change    TEXT NOT NULL
);
CREATE INDEX op_call_change_call ON op_call_change (call_id, seq);
CREATE INDEX op_call_change_tenant ON op_call_change (tenant_id, seq);

CREATE TABLE op_call_alert (
    seq       BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    call_id   TEXT NOT NULL,
    at        BIGINT NOT NULL,
    alert     TEXT NOT NULL
);
CREATE INDEX op_call_alert_user ON op_call_alert (tenant_id, user_id, seq);
