from django.core.management.base import BaseCommand

from offboarding import services
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = "Read the Workday terminations report once and bring cases up to date."

    def handle(self, *args, **options):
        with request_id():
            result = services.sync_workday()
        self.stdout.write(
            f"{len(result.created)} new, {len(result.updated)} updated, {len(result.cancelled)} cancelled, "
            f"{result.row_errors} row errors"
            + (" — mass-termination breaker tripped" if result.breaker_tripped else "")
        )
