"""The history and the queue at a million cases: an index for each sort; the name, department and category
kept on the case, so sorting by name reads an index and the filters combine in the case's own indexes;
the name, work email and login kept on the case too, in one trigram index for the search by part of any of
them; and what the planner must know of how cases are decided (PostgreSQL's extended statistics).

Each sort is read from an index in its own order, the id last as the sort has it. "Latest first" puts the cases
without a date last (DESC NULLS LAST): on PostgreSQL that is an index holding the NULLs first, read backwards;
SQLite sorts NULLs first anyway and takes no NULLS clause in an index, so it has only the plain ones.

A search by part of a name is `UPPER(name::text) LIKE UPPER('%…%')` (Django's icontains): a B-tree cannot
answer it, a trigram GIN index on that same expression can. pg_trgm ships with PostgreSQL and is a trusted
extension (the database's owner may create it). Neither kind is in the models' state: SQLite, which rebuilds
a table with every index the state names, has neither.
"""

from django.db import migrations, models
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Concat

# (index, table, what it holds): the expression is the one Django's icontains compares, so the index matches it.
POSTGRESQL_INDEXES = [
    ("case_search_trgm", "offboarding_case", 'USING gin ((UPPER("search_text"::text)) gin_trgm_ops)'),
    ("case_latest_left_idx", "offboarding_case", '("left_on" NULLS FIRST, "id")'),
    ("case_latest_completed_idx", "offboarding_case", '("finished_at" NULLS FIRST, "id")'),
]


def fill_kept(apps, schema_editor):
    Case = apps.get_model("offboarding", "Case")
    Termination = apps.get_model("offboarding", "Termination")

    def termination_s(field: str) -> Subquery:
        return Subquery(Termination.objects.filter(pk=OuterRef("termination_id")).values(field)[:1])

    Case.objects.filter(termination__isnull=False).update(
        sort_name=termination_s("name"),
        department=termination_s("department"),
        category=termination_s("category"),
        search_text=Concat(termination_s("name"), Value("\n"), termination_s("email"), Value("\n"), "okta_login"),
    )
    Case.objects.filter(termination=None).update(search_text=F("okta_login"))
    # As Case.person_name: the Okta user's name when the offboard began, else the login.
    for case in Case.objects.filter(termination=None).only("plan", "okta_login").iterator():
        name = (case.plan or {}).get("user", {}).get("name", "") or case.okta_login
        Case.objects.filter(pk=case.pk).update(sort_name=name[:300])


# Rule-approved cases have no human decider: without being told, the planner takes the two for independent,
# expects thousands of cases "approved by a rule and by alice", and reads every case looking for them.
DECISION_STATISTICS = (
    "CREATE STATISTICS case_decision_stats (mcv) ON decided_by_id, decided_by_rule_id FROM offboarding_case"
)


def add_postgresql_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, holds in POSTGRESQL_INDEXES:
        schema_editor.execute(f"CREATE INDEX {name} ON {table} {holds}")
    schema_editor.execute(DECISION_STATISTICS)


def remove_postgresql_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _holds in POSTGRESQL_INDEXES:
        schema_editor.execute(f"DROP INDEX {name}")
    schema_editor.execute("DROP STATISTICS case_decision_stats")


class Migration(migrations.Migration):
    # The filling of every case commits before the indexes are built: built in its transaction, an index also
    # holds every row's version from before the update, and a search wades through them long after.
    atomic = False

    dependencies = [("offboarding", "0022_sla_index")]

    operations = [
        migrations.AddField(
            model_name="case",
            name="sort_name",
            field=models.CharField(blank=True, default="", editable=False, max_length=300),
        ),
        migrations.AddField(
            model_name="case",
            name="department",
            field=models.CharField(blank=True, default="", editable=False, max_length=300),
        ),
        migrations.AddField(
            model_name="case",
            name="category",
            field=models.CharField(blank=True, default="", editable=False, max_length=40),
        ),
        migrations.AddField(
            model_name="case",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(fill_kept, migrations.RunPython.noop),
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
            index=models.Index(fields=["department"], name="case_department_idx"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["decided_by_rule", "decided_by"], name="case_decision_idx"),
        ),
        *(
            migrations.AddIndex(model_name="case", index=models.Index(fields=fields, name=name))
            for fields, name in [
                (["decided_by", "left_on"], "case_decider_left_idx"),
                (["decided_by", "finished_at"], "case_decider_completed_idx"),
                (["decided_by_rule", "left_on"], "case_rule_left_idx"),
                (["decided_by_rule", "finished_at"], "case_rule_completed_idx"),
            ]
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["state", "effective_at", "id"], name="case_state_effective_idx"),
        ),
        migrations.RunPython(add_postgresql_indexes, remove_postgresql_indexes),
    ]
