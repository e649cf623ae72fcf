-- Calls not ended, counted per tenant and for the provider (tenant_id ''), so that nodes sharing
-- the database enforce hep_max_calls and hep_max_calls_per_tenant on every node's calls: a new
-- call locks the two rows it is counted in (FOR UPDATE) and is refused at the cap. Kept by a
-- trigger, so no writer can forget it.
CREATE TABLE op_call_open (
    tenant_id TEXT PRIMARY KEY,
    open      BIGINT NOT NULL
);
INSERT INTO op_call_open (tenant_id, open) SELECT '', COUNT(*) FROM op_call WHERE ended_at IS NULL;
INSERT INTO op_call_open (tenant_id, open)
    SELECT tenant_id, COUNT(*) FROM op_call WHERE ended_at IS NULL GROUP BY tenant_id;

CREATE FUNCTION op_call_open_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta BIGINT := 0;
    tenant TEXT;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.ended_at IS NULL THEN
        delta := delta - 1;
        tenant := OLD.tenant_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.ended_at IS NULL THEN
        delta := delta + 1;
        tenant := NEW.tenant_id;
    END IF;
    IF delta <> 0 THEN
        INSERT INTO op_call_open (tenant_id, open) VALUES ('', delta), (tenant, delta)
            ON CONFLICT (tenant_id) DO UPDATE SET open = op_call_open.open + excluded.open;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER op_call_open_count AFTER INSERT OR DELETE OR UPDATE OF ended_at ON op_call
    FOR EACH ROW EXECUTE FUNCTION op_call_open_count();
