"""Database-enforced append-only evidence: UPDATE is always refused, DELETE only through the retention gate."""

from django.db import migrations

PG_INSTALL = """
CREATE OR REPLACE FUNCTION evidence_record_append_only() RETURNS trigger AS $$
DECLARE
    gate RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT purging, purged_through INTO gate FROM evidence_chainhead WHERE tenant_id = OLD.tenant_id;
        IF FOUND AND gate.purging AND OLD.seq <= gate.purged_through THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'evidence records are append-only: % of record #% refused (retention purge is the only way out)', TG_OP, OLD.seq
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER evidence_record_append_only
    BEFORE UPDATE OR DELETE ON evidence_evidencerecord
    FOR EACH ROW EXECUTE FUNCTION evidence_record_append_only();
"""
PG_REMOVE = """
DROP TRIGGER IF EXISTS evidence_record_append_only ON evidence_evidencerecord;
DROP FUNCTION IF EXISTS evidence_record_append_only();
"""
SQLITE_INSTALL = [
    """CREATE TRIGGER evidence_record_no_update BEFORE UPDATE ON evidence_evidencerecord
       BEGIN SELECT RAISE(ABORT, 'evidence records are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER evidence_record_no_delete BEFORE DELETE ON evidence_evidencerecord
       WHEN NOT EXISTS (SELECT 1 FROM evidence_chainhead h WHERE h.tenant_id = OLD.tenant_id
                        AND h.purging AND OLD.seq <= h.purged_through)
       BEGIN SELECT RAISE(ABORT, 'evidence records are append-only: DELETE refused (retention purge is the only way out)'); END""",
]
SQLITE_REMOVE = ["DROP TRIGGER IF EXISTS evidence_record_no_update", "DROP TRIGGER IF EXISTS evidence_record_no_delete"]


def _run(schema_editor, sql):
    # No parameters, so the driver does not read the trigger's RAISE '%' placeholders as its own.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_INSTALL)
    elif vendor == "sqlite":
        for statement in SQLITE_INSTALL:
            _run(schema_editor, statement)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_REMOVE)
    elif vendor == "sqlite":
        for statement in SQLITE_REMOVE:
            _run(schema_editor, statement)


class Migration(migrations.Migration):
    dependencies = [("evidence", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
