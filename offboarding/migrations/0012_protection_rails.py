"""Safety rails: the breaker's sliding window (and the reset it counts from), the "no Okta account" outcome,
and a choice of identity that waits for a second approver when a protected person is involved.
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0011_rules_validated_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="identity_proposal",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="safetysettings",
            name="breaker_reset_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="safetysettings",
            name="breaker_window_minutes",
            field=models.PositiveIntegerField(
                default=60,
                help_text="New terminations are counted over this many minutes, across polls and pushes alike.",
                validators=[django.core.validators.MinValueValidator(1)],
            ),
        ),
        migrations.AlterField(
            model_name="case",
            name="state",
            field=models.CharField(
                choices=[
                    ("pending_review", "Pending review"),
                    ("needs_attention", "Needs attention"),
                    ("approved", "Approved"),
                    ("scheduled", "Scheduled"),
                    ("running", "Running"),
                    ("completed", "Completed"),
                    ("failed", "Failed"),
                    ("rejected", "Rejected"),
                    ("cancelled", "Cancelled"),
                    ("no_account", "Closed: no Okta account"),
                ],
                db_index=True,
                default="pending_review",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="safetysettings",
            name="breaker_count",
            field=models.PositiveIntegerField(
                default=25,
                help_text="Trip when more new terminations than this arrive within the window.",
                validators=[
                    django.core.validators.MinValueValidator(1, "Give a whole number from 1 to 10,000."),
                    django.core.validators.MaxValueValidator(10000, "Give a whole number from 1 to 10,000."),
                ],
            ),
        ),
    ]
