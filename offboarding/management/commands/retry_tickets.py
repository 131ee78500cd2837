from django.core.management.base import BaseCommand

from offboarding import tickets
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = "File every Jira ticket still pending (Jira was down); revocations are not re-run."

    def handle(self, *args, **options):
        with request_id():
            filed = tickets.retry_pending_tickets()
        self.stdout.write(f"{len(filed)} tickets filed")
