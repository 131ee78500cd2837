"""The poller: `manage.py sync_workday --poll` reads Workday at an exact interval until it is stopped.

Its clock and sleep are a fake clock, so no test waits; the syncs are real, against the sandbox.
"""

import os
import signal
from pathlib import Path

import pytest

from offboarding import sync
from offboarding.management.commands import sync_workday as command
from offboarding.models import AuditEvent, Case, SafetySettings
from tests.fake_clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent


def send(signum: int):
    return lambda: os.kill(os.getpid(), signum)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def syncs(clock):
    """When each sync started (seconds on the fake clock), how long the next ones take, and the sync itself."""
    started: list[float] = []
    durations: list[float] = []

    def timed_sync():
        started.append(clock.now)
        result = sync.sync_workday()
        clock.now += durations.pop(0) if durations else 0
        return result

    return started, durations, timed_sync


@pytest.fixture
def poll(clock, syncs, settings):
    """The poller `manage.py sync_workday --poll` runs, on the fake clock; `poll(sync)` with another sync."""

    def run(sync_once=None) -> None:
        interval = settings.SYNC_INTERVAL_MINUTES * 60
        command.Poller(interval, sync_once=sync_once or syncs[2], monotonic=clock.monotonic, sleep=clock.sleep).run()

    return run


# The poller closes the database connection between syncs, which a test inside one transaction cannot have.
@pytest.mark.django_db(transaction=True)
class TestPoller:
    def test_it_syncs_at_every_multiple_of_the_interval_from_its_start(self, poll, org, clock, syncs, settings):
        settings.SYNC_INTERVAL_MINUTES = 2
        started, durations, _ = syncs
        durations += [7, 7, 130]  # the third overruns the interval
        clock.on_sleep[4] = send(signal.SIGTERM)
        poll()
        assert [at - 1000 for at in started] == [0, 120, 240, 480]  # no drift; the missed 360 is skipped
        assert clock.sleeps == [113, 113, 110, 120]

    def test_a_termination_entered_while_it_sleeps_is_opened_by_the_next_sync(self, poll, leaver, clock, syncs):
        clock.on_sleep[1] = lambda: leaver("E100")
        clock.on_sleep[2] = send(signal.SIGTERM)
        poll()
        assert Case.objects.get().termination.employee_id == "E100"
        assert len(syncs[0]) == 2

    @pytest.mark.parametrize(
        "fault",
        [{"kind": "outage"}, {"kind": "error", "status": 503}, {"kind": "malformed"}],
        ids=["outage", "503", "not-a-report"],
    )
    def test_it_keeps_going_after_a_failed_sync(self, poll, org, leaver, clock, syncs, caplog, fault):
        leaver("E100")
        org.fault("workday", fault.pop("kind"), **fault)
        clock.on_sleep[1] = org.clear_faults
        clock.on_sleep[2] = send(signal.SIGTERM)
        poll()
        assert "Workday sync failed; the next one tries again" in caplog.text
        assert Case.objects.get().termination.employee_id == "E100"  # opened by the second sync
        assert clock.sleeps == [60, 60]

    def test_it_keeps_going_after_a_suspect_empty_report(self, poll, org, leaver, clock, syncs, caplog):
        SafetySettings.objects.update_or_create(pk=1, defaults={"empty_report_suspect_from": 1})
        leaver("E100")
        clock.on_sleep[1] = lambda: org.fault("workday", "malformed", body='{"Report_Entry": []}')
        clock.on_sleep[2] = org.clear_faults
        clock.on_sleep[3] = send(signal.SIGTERM)
        poll()
        assert "came back empty; the last one had 1 rows" in caplog.text
        assert len(syncs[0]) == 3
        assert AuditEvent.objects.filter(action="workday.report_suspect").count() == 1

    def test_sigterm_while_it_sleeps_stops_it_at_once(self, poll, org, clock, syncs):
        clock.on_sleep[1] = send(signal.SIGTERM)
        poll()
        assert len(syncs[0]) == 1
        assert clock.now == 1000  # the sleep was cut short

    def test_sigint_during_a_sync_lets_the_sync_finish_then_stops(self, poll, leaver, clock, syncs):
        leaver("E100")

        def interrupted_sync():
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in `make run`
            return syncs[2]()

        poll(interrupted_sync)
        case = Case.objects.get()
        assert case.identity == Case.Identity.EXACT and case.plan["remove"]  # assessed, not left half done
        assert clock.sleeps == []

    def test_it_gives_back_the_signal_handlers_it_found(self, poll, org, clock, syncs):
        before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
        clock.on_sleep[1] = send(signal.SIGTERM)
        poll()
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


class TestMakeRun:
    def test_it_starts_the_poller(self):
        lines = (ROOT / "Procfile").read_text().splitlines()
        poller = next(line for line in lines if line.startswith("poller: "))
        # Once the sandbox answers (tests/test_make_run.py runs the Procfile whole).
        assert poller.startswith("poller: python manage.py wait_for_vendors && ")
        assert poller.endswith("exec python manage.py sync_workday --poll")
