"""Rules and safety settings carry their validators: every form that sets them checks the same bounds."""

import django.core.validators
from django.db import migrations, models

import offboarding.models


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0010_config_audit_check_and_alerts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="autoapproverule",
            name="categories",
            field=models.JSONField(blank=True, default=list, validators=[offboarding.models.validate_word_list]),
        ),
        migrations.AlterField(
            model_name="autoapproverule",
            name="departments_exclude",
            field=models.JSONField(blank=True, default=list, validators=[offboarding.models.validate_word_list]),
        ),
        migrations.AlterField(
            model_name="autoapproverule",
            name="departments_include",
            field=models.JSONField(blank=True, default=list, validators=[offboarding.models.validate_word_list]),
        ),
        migrations.AlterField(
            model_name="autoapproverule",
            name="locations",
            field=models.JSONField(blank=True, default=list, validators=[offboarding.models.validate_word_list]),
        ),
        migrations.AlterField(
            model_name="autoapproverule",
            name="worker_types",
            field=models.JSONField(blank=True, default=list, validators=[offboarding.models.validate_word_list]),
        ),
        migrations.AlterField(
            model_name="safetysettings",
            name="breaker_count",
            field=models.PositiveIntegerField(
                default=25,
                help_text="Trip when one sync brings more new terminations than this.",
                validators=[
                    django.core.validators.MinValueValidator(1, "Give a whole number from 1 to 10,000."),
                    django.core.validators.MaxValueValidator(10000, "Give a whole number from 1 to 10,000."),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="safetysettings",
            name="breaker_share",
            field=models.FloatField(
                default=0.05,
                help_text="…or more than this share of the active Okta population (0.05 = 5%).",
                validators=[offboarding.models.validate_share],
            ),
        ),
        migrations.AlterField(
            model_name="safetysettings",
            name="empty_report_suspect_from",
            field=models.PositiveIntegerField(
                default=20,
                help_text="An empty report after one with at least this many rows is refused as suspect.",
                validators=[
                    django.core.validators.MinValueValidator(1, "Give a whole number from 1 to 10,000."),
                    django.core.validators.MaxValueValidator(10000, "Give a whole number from 1 to 10,000."),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="safetysettings",
            name="sla_target_hours",
            field=models.FloatField(
                default=4,
                help_text="Time to revoke expected, in hours.",
                validators=[offboarding.models.validate_sla_target_hours],
            ),
        ),
    ]
