from django.core.management.base import BaseCommand

from offboarding import revocation
from offboarding.models import Case
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = "Revoke every approved case whose effective moment has passed (in the foreground, or --enqueue)."

    def add_arguments(self, parser):
        parser.add_argument("--enqueue", action="store_true", help="hand the cases to the django-q2 cluster instead")

    def handle(self, *args, enqueue=False, **options):
        for case_id in Case.objects.due().order_by("effective_at").values_list("pk", flat=True):
            if enqueue:
                revocation.enqueue(case_id)
                self.stdout.write(f"case {case_id}: enqueued")
            else:
                with request_id():
                    self.stdout.write(f"case {case_id}: {revocation.run_case(case_id)}")
