-- A counter per tenant that every change to what a small upload's admission reads moves on
-- (see the PostgreSQL migration of the same number): a node answers those reads from memory,
-- stamps the upload with the counter it read them at, and the upload's transaction (which holds
-- SQLite's one write lock) refuses a stale stamp. Kept by triggers, so no writer can forget it.
CREATE TABLE cfg_generation (
    tenant_id  TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
INSERT INTO cfg_generation (tenant_id, generation) SELECT id, 0 FROM cfg_tenant;

CREATE TRIGGER cfg_generation_tenant_insert AFTER INSERT ON cfg_tenant BEGIN
    INSERT OR IGNORE INTO cfg_generation (tenant_id, generation) VALUES (NEW.id, 0);
END;
CREATE TRIGGER cfg_generation_tenant_update AFTER UPDATE ON cfg_tenant BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.id;
END;
CREATE TRIGGER cfg_generation_tenant_delete AFTER DELETE ON cfg_tenant BEGIN
    DELETE FROM cfg_generation WHERE tenant_id = OLD.id;
END;
CREATE TRIGGER cfg_generation_session_delete AFTER DELETE ON op_session BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_session_update AFTER UPDATE OF token_digest, tenant_id, principal_kind, principal_id, purpose, second_factor, idle_timeout_ms, expires_at, revoked_at ON op_session BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_service_account_delete AFTER DELETE ON cfg_service_account BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_service_account_update AFTER UPDATE OF token_digest, tenant_id, revoked_at, expires_at ON cfg_service_account BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_grant_insert AFTER INSERT ON cfg_grant BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_grant_update AFTER UPDATE ON cfg_grant BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_grant_delete AFTER DELETE ON cfg_grant BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_role_insert AFTER INSERT ON cfg_role BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_role_update AFTER UPDATE ON cfg_role BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_role_delete AFTER DELETE ON cfg_role BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_team_insert AFTER INSERT ON cfg_team BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_team_update AFTER UPDATE ON cfg_team BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_team_delete AFTER DELETE ON cfg_team BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_department_insert AFTER INSERT ON cfg_department BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_department_update AFTER UPDATE ON cfg_department BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_department_delete AFTER DELETE ON cfg_department BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_collection_insert AFTER INSERT ON cfg_collection_off BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_collection_update AFTER UPDATE ON cfg_collection_off BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_collection_delete AFTER DELETE ON cfg_collection_off BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_encryption_insert AFTER INSERT ON cfg_encryption BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_encryption_update AFTER UPDATE ON cfg_encryption BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_encryption_delete AFTER DELETE ON cfg_encryption BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_data_key_insert AFTER INSERT ON cfg_data_key BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_data_key_update AFTER UPDATE ON cfg_data_key BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_data_key_delete AFTER DELETE ON cfg_data_key BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
-- Users and services are cached only as existing: their going away counts.
CREATE TRIGGER cfg_generation_user_delete AFTER DELETE ON cfg_user BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_user_update AFTER UPDATE OF tenant_id ON cfg_user BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER cfg_generation_service_delete AFTER DELETE ON cfg_service BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER cfg_generation_service_update AFTER UPDATE OF tenant_id ON cfg_service BEGIN
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;
