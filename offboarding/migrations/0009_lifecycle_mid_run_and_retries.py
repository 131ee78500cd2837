"""What a revocation under way must not forget, and when a failed one is tried again.

`attention_after_run`: what Workday said while the revocation ran (a rescind, a corrected date); the
lockout finishes and is verified first, then the case needs attention for it.
`reopened_from`: the earlier case of the same termination whose rescind Workday reversed.
`retry_at`, `retry_until`: the next automatic retry of a case failed on a passing outage, and when they stop.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0008_case_left_on"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="attention_after_run",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="case",
            name="reopened_from",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reopened_as",
                to="offboarding.case",
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="retry_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="case",
            name="retry_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
