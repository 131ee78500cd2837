from django.core.management.base import BaseCommand

from offboarding import follow_ups
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = "File the follow-up sub-tasks Jira did not take, read each open one's status back, complete cases."

    def handle(self, *args, **options):
        with request_id():
            done = follow_ups.sync()
        self.stdout.write(
            f"{done['asked']} open follow-ups read from Jira, {done['closed']} closed, "
            f"{done['completed']} cases completed"
        )
