"""A rule's list conditions carry their validator: lists of non-empty words, whoever saves the rule."""

from django.db import migrations, models

import offboarding.models


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0008_case_left_on"),
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
    ]
