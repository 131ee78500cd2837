from django.core.management.base import BaseCommand

from offboarding import decisions, health, revocation
from offboarding.models import Case
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = (
        "Retry every case failed on a passing outage whose automatic retry is due, then revoke every approved "
        "case whose effective moment has passed (in the foreground, or --enqueue)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--enqueue", action="store_true", help="hand the cases to the django-q2 cluster instead")

    def handle(self, *args, enqueue=False, **options):
        # A poller that stopped records no failure: the minute's job sees the sync go quiet (alerted once).
        health.check_sync()
        with request_id():
            retried = decisions.retry_due_cases()  # each is handed to the cluster as its retry commits
        for case_id in retried:
            self.stdout.write(f"case {case_id}: retried automatically")
        for case_id in Case.objects.due().order_by("effective_at").values_list("pk", flat=True):
            if enqueue:
                if case_id not in retried:
                    revocation.enqueue(case_id)
                    self.stdout.write(f"case {case_id}: enqueued")
            else:
                with request_id():
                    self.stdout.write(f"case {case_id}: {revocation.run_case(case_id)}")
