"""The day a person left, kept on the case so the history's date filter reads one index.

Before, the filter asked "termination date in range, or (no termination and) effective moment in range",
an OR across two tables that made PostgreSQL read every case.
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.utils import timezone


def fill(apps, schema_editor):
    Case = apps.get_model("offboarding", "Case")
    Termination = apps.get_model("offboarding", "Termination")
    dates = Termination.objects.filter(pk=OuterRef("termination_id")).values("termination_date")[:1]
    Case.objects.filter(termination__isnull=False).update(left_on=Subquery(dates))
    site = timezone.get_default_timezone()
    for case in Case.objects.filter(termination=None, effective_at__isnull=False).only("effective_at"):
        Case.objects.filter(pk=case.pk).update(left_on=timezone.localtime(case.effective_at, site).date())


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0007_report_row_count"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="left_on",
            field=models.DateField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["left_on"], name="case_left_on_idx"),
        ),
    ]
