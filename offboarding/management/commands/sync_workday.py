import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from offboarding import sync
from offboarding.clients.errors import VendorError
from offboarding.request_id import request_id

log = logging.getLogger(__name__)


class Stopped(Exception):
    """SIGTERM or SIGINT while the poller sleeps."""


class Command(BaseCommand):
    help = "Read the Workday terminations report once (or, with --poll, every SYNC_INTERVAL_MINUTES until stopped)."

    def add_arguments(self, parser):
        once_or_always = parser.add_mutually_exclusive_group()
        once_or_always.add_argument(
            "--accept-empty-report",
            action="store_true",
            help="accept an empty report even though the last one had many rows (nobody is terminated any more)",
        )
        once_or_always.add_argument(
            "--poll",
            action="store_true",
            help="keep reading it every SYNC_INTERVAL_MINUTES, counted from the start, until SIGTERM or SIGINT",
        )

    def handle(self, *args, accept_empty_report=False, poll=False, **options):
        if poll:
            Poller(settings.SYNC_INTERVAL_MINUTES * 60).run()
            return
        with request_id():
            try:
                result = sync.sync_workday(accept_empty=accept_empty_report)
            except sync.SuspectReport as e:
                raise CommandError(str(e)) from e
        self.stdout.write(summary(result))


@dataclass
class Poller:
    """Sync at the start and at every multiple of `interval` seconds after it, until SIGTERM or SIGINT.

    Counted from the start, not from the end of the last sync, so the syncs do not drift; a sync
    that overruns skips the moments it missed. A signal during a sync lets it finish (a case opened
    but not yet assessed would wait for a person), then stops; during the sleep it stops at once.
    Its sync, clock and sleep are the real ones unless given.
    """

    interval: float
    sync_once: Callable[[], sync.SyncResult] = sync.sync_workday
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def run(self) -> None:
        stopping = sleeping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True
            if sleeping:
                raise Stopped

        previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        log.info("Reading the Workday report every %g s", self.interval)
        start = self.monotonic()
        try:
            while True:
                self.sync_and_carry_on()
                sleeping = True
                if stopping:
                    break
                self.sleep(self.interval - (self.monotonic() - start) % self.interval)
                sleeping = False
        except Stopped:
            pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        log.info("Stopped reading the Workday report")

    def sync_and_carry_on(self) -> None:
        """One sync; a failure is logged and the next sync tries again."""
        # A connection broken during the last sync (a database restart) is replaced, not reused.
        close_old_connections()
        try:
            with request_id():
                result = self.sync_once()
        except (VendorError, sync.SuspectReport) as e:
            # Workday down or a suspect report (audited and alerted by the sync itself).
            log.error("Workday sync failed; the next one tries again: %s", e)
            return
        except Exception:
            log.exception("Workday sync failed; the next one tries again")
            return
        if result.changed or result.breaker_tripped:
            log.info("Workday sync: %s", summary(result))


def summary(result: sync.SyncResult) -> str:
    return (
        f"{len(result.created)} new, {len(result.updated)} updated, {len(result.cancelled)} cancelled, "
        f"{result.row_errors} row errors" + (" — mass-termination breaker tripped" if result.breaker_tripped else "")
    )
