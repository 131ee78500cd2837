"""Time to revoke, stored on the case: the SLA percentiles and the history's "slowest first" come from the database.

The index serves "slowest revocation first" (revoke_seconds DESC NULLS LAST, id DESC) read backwards: on
PostgreSQL it must hold the NULLs first for that (its default puts them last); SQLite puts them first anyway and
takes no NULLS clause in an index.
"""

from django.db import migrations, models

BACKFILL = {
    "postgresql": "GREATEST(EXTRACT(EPOCH FROM (revoked_at - effective_at)), 0)",
    "sqlite": "MAX((julianday(revoked_at) - julianday(effective_at)) * 86400.0, 0)",
}


def backfill_and_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    table = schema_editor.quote_name(apps.get_model("offboarding", "Case")._meta.db_table)
    seconds = BACKFILL.get(vendor)
    if seconds:
        schema_editor.execute(
            f"UPDATE {table} SET revoke_seconds = {seconds} WHERE revoked_at IS NOT NULL AND effective_at IS NOT NULL"  # noqa: S608 (constants and a quoted name)
        )
    else:
        Case = apps.get_model("offboarding", "Case")
        for case in Case.objects.filter(revoked_at__isnull=False, effective_at__isnull=False).iterator():
            case.revoke_seconds = max((case.revoked_at - case.effective_at).total_seconds(), 0.0)
            case.save(update_fields=["revoke_seconds"])
    nulls = " NULLS FIRST" if vendor == "postgresql" else ""
    schema_editor.execute(f"CREATE INDEX case_slowest_idx ON {table} (revoke_seconds{nulls}, id)")
    schema_editor.execute(f"CREATE INDEX case_effective_revoke_idx ON {table} (effective_at, revoke_seconds)")


def drop_index(apps, schema_editor):
    schema_editor.execute("DROP INDEX case_slowest_idx")
    schema_editor.execute("DROP INDEX case_effective_revoke_idx")


class Migration(migrations.Migration):
    dependencies = [("offboarding", "0014_health_vendor")]

    operations = [
        migrations.AddField(
            model_name="case",
            name="revoke_seconds",
            field=models.FloatField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(backfill_and_index, drop_index),
    ]
