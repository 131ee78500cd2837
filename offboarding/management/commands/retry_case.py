from django.core.management.base import BaseCommand, CommandError

from offboarding import decisions, revocation
from offboarding.models import Actor
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = "Resume a failed case at its first unfinished step, in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("case_id", type=int)

    def handle(self, case_id, **options):
        with request_id():
            try:
                decisions.retry_case(case_id, Actor.system("retry_case"))
            except decisions.DecisionError as e:
                raise CommandError(str(e)) from e
            self.stdout.write(f"case {case_id}: {revocation.run_case(case_id)}")
