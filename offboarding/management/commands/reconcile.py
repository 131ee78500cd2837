from django.core.management.base import BaseCommand

from offboarding import reconcile
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = "Check every past-due termination and completed case against Okta; report who can still sign in."

    def add_arguments(self, parser):
        parser.add_argument(
            "--directory-sourced",
            action="store_true",
            help="Only the directory-sourced leavers whose directory follow-up is open (the hourly watch).",
        )

    def handle(self, *args, **options):
        with request_id():
            run = reconcile.reconcile(directory_sourced=options["directory_sourced"])
        self.stdout.write(f"{run.checked} checked, {len(run.findings)} can still sign in, {len(run.errors)} errors")
        for finding in run.findings:
            self.stdout.write(
                f"  case {finding['case']}: {finding['name']} ({finding['login']}) is {finding['status']}"
            )
