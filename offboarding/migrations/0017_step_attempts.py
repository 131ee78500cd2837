from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("offboarding", "0016_access_steps")]

    operations = [
        migrations.AddField(
            model_name="step",
            name="failures",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
