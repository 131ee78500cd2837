"""The audit log gets a key (issue 19): from here on each event is sealed with HMAC-SHA-256 under AUDIT_KEY.

The events already there keep their plain SHA-256 seals: re-sealing them now would vouch, under the key,
for whatever the database holds today. The head records where keyed sealing starts, so the check can say
"events before #N were sealed without a key" instead of failing or pretending.
"""

from django.db import migrations, models


def keyed_from_the_next_event(apps, schema_editor):
    AuditChainHead = apps.get_model("offboarding", "AuditChainHead")
    for head in AuditChainHead.objects.all():
        head.keyed_from_seq = head.last_seq + 1
        head.save(update_fields=["keyed_from_seq"])


class Migration(migrations.Migration):
    dependencies = [
        ("offboarding", "0019_follow_ups"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchainhead",
            name="keyed_from_seq",
            field=models.PositiveBigIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.RunPython(keyed_from_the_next_event, migrations.RunPython.noop),
    ]
