-- callvault schema v18: departments, recording policy and pauses, recording kinds and consent
--   outcomes on stored objects, agent performance statistics.

-- A department holds teams; a supervisor's scope can be the department's teams.
CREATE TABLE cfg_department (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);
ALTER TABLE cfg_team ADD COLUMN department_id TEXT REFERENCES cfg_department(id) ON DELETE SET NULL;
CREATE INDEX cfg_team_department ON cfg_team (tenant_id, department_id);

-- The tenant's recording policy (JSON: switches, consent rules, maximum pause).
CREATE TABLE cfg_recording_policy (
    tenant_id  TEXT PRIMARY KEY REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    policy     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Pauses of an interaction's recording: open while ended_at is NULL; it ends by itself at
-- limit_at (the policy's maximum pause).
CREATE TABLE op_recording_pause (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    interaction_id TEXT NOT NULL REFERENCES op_interaction(id) ON DELETE CASCADE,
    started_at     INTEGER NOT NULL,
    started_by     TEXT NOT NULL,
    limit_at       INTEGER NOT NULL,
    ended_at       INTEGER,
    ended_by       TEXT
);
CREATE INDEX op_recording_pause_interaction ON op_recording_pause (tenant_id, interaction_id, started_at);

-- Objects: the consent outcome replaces the boolean (1 = yes; 0 was the default when nothing was
-- said, so it becomes unknown), and each object is a personal recording of its agents or a
-- quality-management recording of its service (existing ones: personal when they name agents).
ALTER TABLE op_object ADD COLUMN consent_outcome TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE op_object ADD COLUMN recording_kind TEXT NOT NULL DEFAULT 'personal';
ALTER TABLE op_object ADD COLUMN paused_spans TEXT NOT NULL DEFAULT '[]';
UPDATE op_object SET consent_outcome = 'yes' WHERE consent <> 0;
UPDATE op_object SET recording_kind = 'quality_management' WHERE agents = '[]';

-- Agent performance statistics: one row per agent and 15-minute interval (seconds per state,
-- counts of handled and missed interactions), fed by the ACD.
CREATE TABLE op_performance (
    tenant_id      TEXT NOT NULL REFERENCES cfg_tenant(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES cfg_user(id) ON DELETE CASCADE,
    interval_start INTEGER NOT NULL,
    talk_s         INTEGER NOT NULL,
    hold_s         INTEGER NOT NULL,
    wrap_up_s      INTEGER NOT NULL,
    available_s    INTEGER NOT NULL,
    break_s        INTEGER NOT NULL,
    other_s        INTEGER NOT NULL,
    handled        INTEGER NOT NULL,
    missed         INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, interval_start)
);
CREATE INDEX op_performance_interval ON op_performance (tenant_id, interval_start);
