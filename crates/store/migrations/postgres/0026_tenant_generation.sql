-- A counter per tenant that every change to what a small upload's admission reads moves on:
-- sessions and service-account tokens (revoked, expired, replaced), grants, roles, teams and
-- departments (scopes), collection switches, tenant settings, encryption settings and key
-- versions, and users and services that go away. A node may answer those reads from memory and
-- stamp the upload with the counter it read them at; the upload's transaction reads the counter
-- (FOR SHARE, so a change waits for it or is seen) and refuses a stale stamp, so nothing is
-- stored on facts that changed before the commit. Kept by triggers, so no writer can forget it.
CREATE TABLE cfg_generation (
    tenant_id  TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO cfg_generation (tenant_id, generation) SELECT id, 0 FROM cfg_tenant;

CREATE FUNCTION cfg_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.tenant_id IS NOT NULL THEN
        UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.tenant_id IS NOT NULL THEN
        UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION cfg_generation_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cfg_generation (tenant_id, generation) VALUES (NEW.id, 0) ON CONFLICT (tenant_id) DO NOTHING;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE cfg_generation SET generation = generation + 1 WHERE tenant_id = NEW.id;
    ELSE
        DELETE FROM cfg_generation WHERE tenant_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER cfg_generation_tenant AFTER INSERT OR UPDATE OR DELETE ON cfg_tenant
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_tenant();
-- A new session or a touch (last_seen_at) changes nothing a cached admission holds.
CREATE TRIGGER cfg_generation_session AFTER DELETE OR UPDATE OF token_digest, tenant_id, principal_kind,
    principal_id, purpose, second_factor, idle_timeout_ms, expires_at, revoked_at ON op_session
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_service_account AFTER DELETE OR UPDATE OF token_digest, tenant_id, revoked_at,
    expires_at ON cfg_service_account
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_grant AFTER INSERT OR UPDATE OR DELETE ON cfg_grant
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_role AFTER INSERT OR UPDATE OR DELETE ON cfg_role
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_team AFTER INSERT OR UPDATE OR DELETE ON cfg_team
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_department AFTER INSERT OR UPDATE OR DELETE ON cfg_department
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_collection AFTER INSERT OR UPDATE OR DELETE ON cfg_collection_off
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_encryption AFTER INSERT OR UPDATE OR DELETE ON cfg_encryption
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_data_key AFTER INSERT OR UPDATE OR DELETE ON cfg_data_key
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
-- Users and services are cached only as existing: their going away counts.
CREATE TRIGGER cfg_generation_user AFTER DELETE OR UPDATE OF tenant_id ON cfg_user
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
CREATE TRIGGER cfg_generation_service AFTER DELETE OR UPDATE OF tenant_id ON cfg_service
    FOR EACH ROW EXECUTE FUNCTION cfg_generation_bump();
