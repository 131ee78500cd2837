"""The SLA page's figures of whole weeks and months, kept (PostgreSQL): sorting a year's times to revoke for
each week and each month was most of the page's time at a million cases. A period's stored figures hold until a
case measured in it changes; the database itself notes every such change, whatever wrote it (the product, a
bulk update, the Django admin, a database administrator's UPDATE, a COPY), so no path can leave a figure stale.

The trigger writes the case's effective moment, before and after, as a `SlaChange` when the case is inserted,
deleted, or updated in what the figures read: its time to revoke, its effective moment, or whether it is
measured (its state in or out of `offboarding.sla.NOT_MEASURED`; tests/test_sla.py checks the two lists agree).
TRUNCATE of the cases forgets every stored figure. SQLite has no trigger and stores nothing: it computes every
period on each load, as before (it is not the scale this is for).
"""

from django.db import migrations, models

NOT_MEASURED = ("rejected", "cancelled", "no_account")
_STATES = ", ".join(f"'{state}'" for state in NOT_MEASURED)


def measured(row: str) -> str:
    return f"({row}.revoke_seconds IS NOT NULL AND {row}.effective_at IS NOT NULL AND {row}.state NOT IN ({_STATES}))"


CREATE = f"""
CREATE FUNCTION offboarding_sla_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND {measured("OLD")} THEN
    INSERT INTO offboarding_slachange (at) VALUES (OLD.effective_at);
  END IF;
  IF TG_OP <> 'DELETE' AND {measured("NEW")}
     AND (TG_OP = 'INSERT' OR NOT {measured("OLD")} OR NEW.effective_at IS DISTINCT FROM OLD.effective_at) THEN
    INSERT INTO offboarding_slachange (at) VALUES (NEW.effective_at);
  END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION offboarding_sla_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM offboarding_slafigures;
  RETURN NULL;
END $$;
CREATE TRIGGER case_sla_change_row AFTER INSERT OR DELETE ON offboarding_case
  FOR EACH ROW EXECUTE FUNCTION offboarding_sla_change();
CREATE TRIGGER case_sla_change_update AFTER UPDATE ON offboarding_case FOR EACH ROW
  WHEN (OLD.revoke_seconds IS DISTINCT FROM NEW.revoke_seconds OR OLD.effective_at IS DISTINCT FROM NEW.effective_at
        OR (OLD.state IN ({_STATES})) IS DISTINCT FROM (NEW.state IN ({_STATES})))
  EXECUTE FUNCTION offboarding_sla_change();
CREATE TRIGGER case_sla_truncate AFTER TRUNCATE ON offboarding_case
  FOR EACH STATEMENT EXECUTE FUNCTION offboarding_sla_forget();
"""  # noqa: S608 (built from the constants above, nothing from outside)
DROP = """
DROP TRIGGER case_sla_truncate ON offboarding_case;
DROP TRIGGER case_sla_change_update ON offboarding_case;
DROP TRIGGER case_sla_change_row ON offboarding_case;
DROP FUNCTION offboarding_sla_forget();
DROP FUNCTION offboarding_sla_change();
"""


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0023_history_at_scale"),
    ]

    operations = [
        migrations.CreateModel(
            name="SlaChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.CreateModel(
            name="SlaFigures",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("since", models.DateTimeField()),
                ("until", models.DateTimeField()),
                ("target_seconds", models.FloatField()),
                ("revoked", models.PositiveIntegerField()),
                ("median", models.FloatField(null=True)),
                ("p95", models.FloatField(null=True)),
                ("worst", models.FloatField(null=True)),
                ("over_target", models.PositiveIntegerField()),
                ("computed_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("since", "until", "target_seconds"), name="sla_figures_period")
                ],
            },
        ),
        migrations.RunPython(add_triggers, remove_triggers),
    ]
