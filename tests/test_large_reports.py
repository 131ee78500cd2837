"""Large reports: the Workday read has timeouts of its own, longer than every other vendor call's."""

import pytest

from offboarding import sync
from offboarding.clients.errors import TransientError
from offboarding.models import Termination


class TestWorkdayTimeouts:
    def test_a_report_slower_than_the_generic_read_timeout_is_still_read(self, org, leaver, settings):
        settings.CLIENT_READ_TIMEOUT = 0.2
        settings.WORKDAY_READ_TIMEOUT = 5.0
        leaver("E100")
        org.fault("workday", "latency", seconds=0.5)
        sync.sync_workday()
        assert Termination.objects.get().employee_id == "E100"

    def test_a_report_slower_than_workdays_own_read_timeout_fails(self, org, leaver, settings):
        settings.CLIENT_READ_TIMEOUT = 5.0
        settings.WORKDAY_READ_TIMEOUT = 0.2
        leaver("E100")
        org.fault("workday", "latency", seconds=0.5)
        with pytest.raises(TransientError, match="read timeout"):
            sync.sync_workday()
        assert not Termination.objects.exists()


class TestGeneratedReports:
    def test_the_sandbox_serves_as_many_made_up_rows_as_asked(self, sandbox):
        already = len(sandbox.terminations())
        assert sandbox.generate_terminations(250) == {"added": 250, "rows": already + 250}
        report = sync.WorkdayClient.from_settings().fetch_terminations()
        generated = [t for t in report.terminations if t.employee_id.startswith("G")]
        assert len(generated) == 250 and report.row_errors == []

    def test_a_slow_body_longer_than_the_generic_read_timeout_is_read_whole(self, org, settings):
        settings.CLIENT_READ_TIMEOUT = 0.3
        settings.WORKDAY_READ_TIMEOUT = 5.0
        org.generate_terminations(20, chunk_bytes=2048, chunk_seconds=0.1)  # about 1 s in all, 0.1 s per chunk
        report = sync.WorkdayClient.from_settings().fetch_terminations()
        assert len([t for t in report.terminations if t.employee_id.startswith("G")]) == 20
