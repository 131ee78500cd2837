from django.core.management.base import BaseCommand, CommandError

from offboarding.request_id import request_id
from offboarding.vendor_check import check_vendors


class Command(BaseCommand):
    help = (
        "Sign in to Jira, Okta and Workday and read (never write) whether each takes what the product will ask: "
        "Jira's project, issue type, sub-task type and required fields, Okta's permissions. Fails when one lacks."
    )

    def handle(self, *args, **options):
        with request_id():
            findings = check_vendors()
        for finding in findings:
            self.stdout.write(str(finding))
        missing = [f for f in findings if not f.ok]
        if missing:
            raise CommandError(f"{len(missing)} missing: the product would fail on them", returncode=2)
        self.stdout.write("Every vendor takes what the product will ask of it.")
