"""The SLA page's index, on PostgreSQL: the measured cases by effective moment, holding every column the page
counts from, so that a period's figures are one range of it, read without the table (an index-only scan).

Its condition is offboarding.sla's NOT_MEASURED: a query that excludes exactly those states is one it answers
(tests/test_sla.py checks the plan). SQLite has no INCLUDE and is not the scale the index is for: it has none,
and the index is not in the models' state (SQLite would warn of INCLUDE at every command, and rebuild it).
"""

from django.db import migrations

INDEX = (
    'CREATE INDEX case_sla_idx ON offboarding_case ("effective_at")'
    ' INCLUDE ("revoke_seconds", "state", "decided_at", "decided_by_rule_id", "id")'
    " WHERE NOT (\"state\" IN ('rejected', 'cancelled', 'no_account'))"
)


def add_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX)


def remove_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX case_sla_idx")


class Migration(migrations.Migration):
    dependencies = [("offboarding", "0021_cache_table")]

    operations = [migrations.RunPython(add_index, remove_index)]
