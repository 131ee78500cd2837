"""The shared cache's table (CACHE_URL=db://, the default): made by `migrate`, which every setup path runs,
so no deploy can forget `createcachetable`. Made whatever CACHE_URL says now, so a switch to db:// later
finds it there."""

from django.conf import settings
from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations


def create_table(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0  # set by handle(), which this skips: it makes only the tables CACHES names now
    command.create_table(schema_editor.connection.alias, settings.CACHE_TABLE, dry_run=False)


def drop_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(settings.CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("offboarding", "0020_audit_keys")]

    operations = [migrations.RunPython(create_table, drop_table)]
