-- callvault schema v1 (PostgreSQL).
-- Table prefixes name the data class of seed 002, so that each class can get its own retention:
--   cfg_ configuration (tenants, users, teams, skills, services, roles, grants, credentials)
--   dir_ directory (users' addresses: phone numbers, e-mail addresses)
--   op_  operative (sessions, notifications)
--   aud_ audit log
-- outbound (out_), monitoring (mon_) and reporting (rep_) tables arrive with later migrations.

CREATE TABLE cfg_tenant (
    id           TEXT PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    settings     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE cfg_operator (
    id             TEXT PRIMARY KEY,
    login          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    failures       BIGINT NOT NULL DEFAULT 0,
    last_failure_at BIGINT,
    locked_until   BIGINT,
    totp_seed      BYTEA,
    totp_enrolled  BIGINT NOT NULL DEFAULT 0,
    totp_last_step BIGINT,
    password_changed_at BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE cfg_user (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    login      TEXT NOT NULL,
    login_key  TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, login_key)
);

CREATE TABLE cfg_credential (
    user_id        TEXT PRIMARY KEY REFERENCES cfg_user(id) ON DELETE CASCADE,
    tenant_id      TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    password_hash  TEXT NOT NULL,
    failures       BIGINT NOT NULL DEFAULT 0,
    last_failure_at BIGINT,
    locked_until   BIGINT,
    totp_seed      BYTEA,
    totp_enrolled  BIGINT NOT NULL DEFAULT 0,
    totp_last_step BIGINT,
    password_changed_at BIGINT NOT NULL
);

CREATE TABLE cfg_recovery_code (
    user_id   TEXT NOT NULL REFERENCES cfg_user(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    digest    TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, digest)
);

CREATE TABLE dir_address (
    id        TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES cfg_user(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    value     TEXT NOT NULL,
    position  BIGINT NOT NULL
);
CREATE INDEX dir_address_user ON dir_address (tenant_id, user_id);

CREATE TABLE cfg_team (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE cfg_skill (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE cfg_service (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE cfg_team_member (
    tenant_id TEXT NOT NULL,
    team_id   TEXT NOT NULL REFERENCES cfg_team(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES cfg_user(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX cfg_team_member_user ON cfg_team_member (user_id);

CREATE TABLE cfg_user_skill (
    tenant_id TEXT NOT NULL,
    skill_id  TEXT NOT NULL REFERENCES cfg_skill(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES cfg_user(id) ON DELETE CASCADE,
    level     BIGINT NOT NULL,
    PRIMARY KEY (skill_id, user_id)
);
CREATE INDEX cfg_user_skill_user ON cfg_user_skill (user_id);

CREATE TABLE cfg_user_service (
    tenant_id  TEXT NOT NULL,
    service_id TEXT NOT NULL REFERENCES cfg_service(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES cfg_user(id) ON DELETE CASCADE,
    PRIMARY KEY (service_id, user_id)
);
CREATE INDEX cfg_user_service_user ON cfg_user_service (user_id);

CREATE TABLE cfg_role (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    privileges  TEXT NOT NULL,
    builtin     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE cfg_service_account (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    UNIQUE (tenant_id, name)
);

CREATE TABLE cfg_grant (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    user_id            TEXT REFERENCES cfg_user(id) ON DELETE CASCADE,
    service_account_id TEXT REFERENCES cfg_service_account(id) ON DELETE CASCADE,
    role_id            TEXT NOT NULL REFERENCES cfg_role(id),
    scope              TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (service_account_id IS NULL))
);
CREATE INDEX cfg_grant_user ON cfg_grant (user_id);
CREATE INDEX cfg_grant_sa ON cfg_grant (service_account_id);
CREATE INDEX cfg_grant_role ON cfg_grant (role_id);

CREATE TABLE op_session (
    token_digest   TEXT PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    tenant_id      TEXT,
    principal_kind TEXT NOT NULL,
    principal_id   TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    second_factor  BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    idle_timeout_ms BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX op_session_principal ON op_session (principal_id);

CREATE TABLE op_notification (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    audience   TEXT NOT NULL,
    message    TEXT NOT NULL,
    details    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX op_notification_tenant ON op_notification (tenant_id, created_at);

CREATE TABLE cfg_signing_key (
    key_id         TEXT PRIMARY KEY,
    purpose        TEXT NOT NULL,
    public_key     BYTEA,
    wrapped_secret BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE aud_entry (
    seq        BIGSERIAL PRIMARY KEY,
    tenant_id  TEXT,
    action     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    body       TEXT NOT NULL,
    leaf_index BIGINT UNIQUE,
    leaf_hash  BYTEA
);
CREATE INDEX aud_entry_unsequenced ON aud_entry (seq) WHERE leaf_index IS NULL;
CREATE INDEX aud_entry_tenant ON aud_entry (tenant_id, leaf_index);

CREATE TABLE aud_head (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    tree_size BIGINT NOT NULL,
    last_hash BYTEA NOT NULL,
    frontier  BYTEA NOT NULL
);

CREATE TABLE aud_tree_head (
    tree_size  BIGINT PRIMARY KEY,
    timestamp  BIGINT NOT NULL,
    root       BYTEA NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BYTEA NOT NULL
);
