from django.core.management.base import BaseCommand, CommandError

from offboarding import integrity
from offboarding.models import Actor


class Command(BaseCommand):
    help = (
        "Walk the audit log's chain, hold it to its anchors in Jira and each case's decision to the events that "
        "recorded it; name the first event altered, inserted or removed. The result is kept, and is an audit event."
    )

    def handle(self, *args, **options):
        try:
            check = integrity.check_now(Actor.system("verify_audit_log"))
        except integrity.AlreadyRunning as e:
            self.stdout.write(str(e))
            return
        if check.intact is None:
            raise CommandError(f"Audit log NOT checked: {check.message}")
        if not check.intact:
            raise CommandError(f"Audit log NOT intact: {check.message}")
        self.stdout.write(f"Audit log intact: {check.message}")
