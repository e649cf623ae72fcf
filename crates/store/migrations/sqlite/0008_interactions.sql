-- callvault schema v8: interactions (contact data records) and data subjects.
--   A customer's identifiers (phone in E.164, e-mail, IP) are stored sealed under the tenant's data
--   key with a keyed blind index, so finding a subject is an index look-up, never a bulk
--   decryption. Identifiers seen together on one interaction link into one subject.
CREATE TABLE op_interaction (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    channel      TEXT NOT NULL,
    direction    TEXT NOT NULL,
    external_ref TEXT,
    service_id   TEXT REFERENCES cfg_service(id) ON DELETE SET NULL,
    consent      TEXT NOT NULL,
    subject_id   TEXT,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX op_interaction_ref ON op_interaction (tenant_id, external_ref);
CREATE INDEX op_interaction_subject ON op_interaction (tenant_id, subject_id);

CREATE TABLE op_interaction_agent (
    interaction_id TEXT NOT NULL REFERENCES op_interaction(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES cfg_user(id) ON DELETE CASCADE,
    PRIMARY KEY (interaction_id, user_id)
);

CREATE TABLE op_interaction_identifier (
    interaction_id TEXT NOT NULL REFERENCES op_interaction(id) ON DELETE CASCADE,
    tenant_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    blind          TEXT NOT NULL,
    sealed         TEXT NOT NULL,
    key_version    INTEGER NOT NULL,
    PRIMARY KEY (interaction_id, kind, blind)
);

CREATE TABLE op_subject_identifier (
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    blind      TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, blind)
);
CREATE INDEX op_subject_identifier_subject ON op_subject_identifier (tenant_id, subject_id);
