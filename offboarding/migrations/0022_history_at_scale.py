"""The history and the queue at a million cases: an index for each sort, the name kept on the case, and
trigram indexes for the search by part of a name, email or login.

Each sort is read from an index in its own order, the id last as the sort has it. "Latest first" puts the cases
without a date last (DESC NULLS LAST): on PostgreSQL that is an index holding the NULLs first, read backwards;
SQLite sorts NULLs first anyway and takes no NULLS clause in an index, so it has only the plain ones.

A search by part of a name is `UPPER(name::text) LIKE UPPER('%…%')` (Django's icontains): a B-tree cannot
answer it, a trigram GIN index on that same expression can. pg_trgm ships with PostgreSQL and is a trusted
extension (the database's owner may create it). Neither kind is in the models' state: SQLite, which rebuilds
a table with every index the state names, has neither.
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

# (index, table, what it holds): the expression is the one Django's icontains compares, so the index matches it.
POSTGRESQL_INDEXES = [
    ("termination_name_trgm", "offboarding_termination", 'USING gin ((UPPER("name"::text)) gin_trgm_ops)'),
    ("termination_email_trgm", "offboarding_termination", 'USING gin ((UPPER("email"::text)) gin_trgm_ops)'),
    ("case_okta_login_trgm", "offboarding_case", 'USING gin ((UPPER("okta_login"::text)) gin_trgm_ops)'),
    ("case_latest_left_idx", "offboarding_case", '("left_on" NULLS FIRST, "id")'),
    ("case_latest_completed_idx", "offboarding_case", '("finished_at" NULLS FIRST, "id")'),
]


def fill_sort_name(apps, schema_editor):
    Case = apps.get_model("offboarding", "Case")
    Termination = apps.get_model("offboarding", "Termination")
    names = Termination.objects.filter(pk=OuterRef("termination_id")).values("name")[:1]
    Case.objects.filter(termination__isnull=False).update(sort_name=Subquery(names))
    # As Case.person_name: the Okta user's name when the offboard began, else the login.
    for case in Case.objects.filter(termination=None).only("plan", "okta_login").iterator():
        name = (case.plan or {}).get("user", {}).get("name", "") or case.okta_login
        Case.objects.filter(pk=case.pk).update(sort_name=name[:300])


def add_postgresql_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, holds in POSTGRESQL_INDEXES:
        schema_editor.execute(f"CREATE INDEX {name} ON {table} {holds}")


def remove_postgresql_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _holds in POSTGRESQL_INDEXES:
        schema_editor.execute(f"DROP INDEX {name}")


class Migration(migrations.Migration):
    dependencies = [("offboarding", "0021_cache_table")]

    operations = [
        migrations.AddField(
            model_name="case",
            name="sort_name",
            field=models.CharField(blank=True, default="", editable=False, max_length=300),
        ),
        migrations.RunPython(fill_sort_name, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="case", name="case_finished_idx"),
        migrations.RemoveIndex(model_name="case", name="case_left_on_idx"),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["finished_at", "id"], name="case_completed_idx"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["left_on", "id"], name="case_left_idx"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["sort_name", "okta_login", "id"], name="case_name_idx"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["state", "effective_at", "id"], name="case_state_effective_idx"),
        ),
        migrations.RunPython(add_postgresql_indexes, remove_postgresql_indexes),
    ]
