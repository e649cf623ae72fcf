-- callvault schema v14: identifiers never linked into a subject (the tenant's own numbers,
--   switchboards, shared addresses), kept sealed with their blind index like customers' ones.
CREATE TABLE cfg_subject_exclusion (
    tenant_id   TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    blind       TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, blind)
);
