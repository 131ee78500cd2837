from django.core.management.base import BaseCommand, CommandError

from offboarding.models import AuditEvent


class Command(BaseCommand):
    help = "Walk the audit log's hash chain; name the first event altered, inserted or removed."

    def handle(self, *args, **options):
        intact, message = AuditEvent.verify_chain()
        if not intact:
            raise CommandError(f"Audit log NOT intact: {message}")
        self.stdout.write(f"Audit log intact: {message}")
