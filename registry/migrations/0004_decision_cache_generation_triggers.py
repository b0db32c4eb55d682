"""Triggers that bump Tenant.policy_generation whenever something the decision path caches changes.

The decision path caches, per process, an agent token's credential -> agent -> tenant
(registry.credential_cache) and the resolved rollout (policies.decisions.resolve), and checks both
against the tenant's `policy_generation` with one cheap read per request. These triggers make that
generation move in the SAME transaction as any change to a credential (issue, revoke, rotate,
delete), an agent (status, profile, scope, retire, delete) or the tenant row itself (entitlement,
settings) — whatever code path or process makes it (services, the admin, SQL). Bookkeeping columns
(`last_used_at`, `last_seen_at`) are excluded, so authentication's own once-a-minute touch does not
invalidate anything. PostgreSQL only: on SQLite (the demo) the credential cache is off.
"""

from django.db import migrations

_FORWARD = """
CREATE OR REPLACE FUNCTION cavra_generation_bump_for_row() RETURNS trigger AS $$
DECLARE
    ignored text := TG_ARGV[0];
    tenant bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - ignored) = (to_jsonb(OLD) - ignored) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN tenant := OLD.tenant_id; ELSE tenant := NEW.tenant_id; END IF;
    UPDATE tenants_tenant SET policy_generation = policy_generation + 1 WHERE id = tenant;
    IF TG_OP = 'UPDATE' AND OLD.tenant_id IS DISTINCT FROM NEW.tenant_id THEN
        UPDATE tenants_tenant SET policy_generation = policy_generation + 1 WHERE id = OLD.tenant_id;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION cavra_generation_bump_for_tenant() RETURNS trigger AS $$
BEGIN
    -- A save() of a stale instance writes an older generation back: never let it go backwards.
    IF (to_jsonb(NEW) - 'policy_generation') <> (to_jsonb(OLD) - 'policy_generation') THEN
        NEW.policy_generation := GREATEST(OLD.policy_generation, NEW.policy_generation) + 1;
    ELSIF NEW.policy_generation < OLD.policy_generation THEN
        NEW.policy_generation := OLD.policy_generation;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER cavra_credential_generation
    AFTER INSERT OR UPDATE OR DELETE ON registry_agentcredential
    FOR EACH ROW EXECUTE FUNCTION cavra_generation_bump_for_row('last_used_at');
CREATE TRIGGER cavra_agent_generation
    AFTER UPDATE OR DELETE ON registry_agent
    FOR EACH ROW EXECUTE FUNCTION cavra_generation_bump_for_row('last_seen_at');
CREATE TRIGGER cavra_tenant_generation
    BEFORE UPDATE ON tenants_tenant
    FOR EACH ROW EXECUTE FUNCTION cavra_generation_bump_for_tenant();
"""

_BACKWARD = """
DROP TRIGGER IF EXISTS cavra_credential_generation ON registry_agentcredential;
DROP TRIGGER IF EXISTS cavra_agent_generation ON registry_agent;
DROP TRIGGER IF EXISTS cavra_tenant_generation ON tenants_tenant;
DROP FUNCTION IF EXISTS cavra_generation_bump_for_row();
DROP FUNCTION IF EXISTS cavra_generation_bump_for_tenant();
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_agent_profile_aws_q_developer"),
        ("tenants", "0003_tenant_policy_generation"),
    ]

    operations = [migrations.RunPython(_run(_FORWARD), _run(_BACKWARD))]
