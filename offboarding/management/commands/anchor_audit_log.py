from django.core.management.base import BaseCommand, CommandError

from offboarding import integrity
from offboarding.clients.errors import VendorError


class Command(BaseCommand):
    help = (
        "Write the audit log's head (event, seal, count) on the Jira audit-anchor issue and in the log, "
        "where the database's administrator cannot change it. A failure is audited and alerted."
    )

    def handle(self, *args, **options):
        try:
            anchor = integrity.anchor_chain_head()
        except VendorError as e:
            raise CommandError(f"The audit log was NOT anchored: {e}") from e
        self.stdout.write(f"Anchored event #{anchor.seq} on {anchor.where}")
