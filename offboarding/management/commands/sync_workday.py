from django.core.management.base import BaseCommand, CommandError

from offboarding import services
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = "Read the Workday terminations report once and bring cases up to date."

    def add_arguments(self, parser):
        parser.add_argument(
            "--accept-empty-report",
            action="store_true",
            help="accept an empty report even though the last one had many rows (nobody is terminated any more)",
        )

    def handle(self, *args, accept_empty_report=False, **options):
        with request_id():
            try:
                result = services.sync_workday(accept_empty=accept_empty_report)
            except services.SuspectReport as e:
                raise CommandError(str(e)) from e
        self.stdout.write(
            f"{len(result.created)} new, {len(result.updated)} updated, {len(result.cancelled)} cancelled, "
            f"{result.row_errors} row errors"
            + (" — mass-termination breaker tripped" if result.breaker_tripped else "")
        )
