"""The SLA page's index: the measured cases by effective moment, with every column the page counts from.

On PostgreSQL the figures of a period are then one range of this index, read without the table (INCLUDE);
SQLite has no INCLUDE and keeps an index on the key under the same condition (Django leaves INCLUDE out).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("offboarding", "0021_cache_table")]

    operations = [
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=~models.Q(state__in=["rejected", "cancelled", "no_account"]),
                fields=["effective_at"],
                include=("revoke_seconds", "state", "decided_at", "decided_by_rule", "id"),
                name="case_sla_idx",
            ),
        ),
    ]
