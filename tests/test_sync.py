"""Sync: the Workday report becomes Terminations and Cases, corrections and rescinds included."""

import threading
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from offboarding import decisions, revocation, sync
from offboarding.clients.errors import VendorError
from offboarding.models import AuditEvent, AutoApproveRule, Case, ReportRowError, SafetySettings, Termination
from tests.processes import wait_for


def only_case() -> Case:
    return Case.objects.select_related("termination").get()


def snapshot_of_database() -> dict:
    return {
        "events": AuditEvent.objects.count(),
        "cases": list(Case.objects.values("id", "state", "effective_at", "identity", "plan", "attention_reason")),
        "terminations": [t.tracked_values() for t in Termination.objects.all()],
    }


class TestNewTermination:
    def test_it_opens_a_case_pending_review_with_an_exact_identity(self, leaver):
        person = leaver()
        result = sync.sync_workday()
        case = only_case()
        assert result.created == [case.pk]
        assert case.state == Case.State.PENDING_REVIEW
        assert case.identity == Case.Identity.EXACT
        assert case.okta_user_id == person["user_id"]
        assert case.termination.name == "Zoë Müller"
        assert case.termination.time_zone == "America/New_York"

    def test_it_keeps_the_plan_of_what_revocation_would_do(self, leaver):
        leaver()
        sync.sync_workday()
        plan = only_case().plan
        assert sorted(g["name"] for g in plan["remove"]) == ["GitHub Engineers E100", "VPN Users E100"]
        kept = {g["name"]: g["type"] for g in plan["keep"]}
        assert kept == {"Everyone": "BUILT_IN", "AD: Engineering E100": "APP_GROUP"}
        assert all(g["reason"] for g in plan["keep"])
        assert plan["clear_sessions"] and plan["deactivate"]

    def test_it_records_what_it_saw_in_the_audit_trail(self, leaver):
        leaver()
        sync.sync_workday()
        actions = list(AuditEvent.objects.values_list("action", flat=True))
        assert actions == ["termination.received", "case.opened", "okta.user_resolved"]
        assert AuditEvent.objects.first().actor_name == "system:sync_workday"

    def test_a_future_dated_termination_takes_effect_at_the_end_of_its_day(self, leaver):
        leaver(days_ahead=10, Time_Zone="America/New_York")
        sync.sync_workday()
        case = only_case()
        expected = case.termination.effective_moment(SafetySettings.EffectiveMode.END_OF_TERMINATION_DATE)
        assert case.effective_at == expected
        assert case.effective_at > timezone.now() + timedelta(days=9)

    def test_an_involuntary_termination_can_act_immediately(self, leaver):
        SafetySettings.objects.update_or_create(pk=1, defaults={"involuntary_immediately": True})
        leaver(days_ahead=0, Termination_Category="Involuntary")
        sync.sync_workday()
        case = only_case()
        assert case.immediate
        assert case.effective_at <= timezone.now()

    def test_a_voluntary_termination_is_not_made_immediate(self, leaver):
        SafetySettings.objects.update_or_create(pk=1, defaults={"involuntary_immediately": True})
        leaver(days_ahead=3, Termination_Category="Voluntary")
        sync.sync_workday()
        assert not only_case().immediate


class TestLayoff:
    @pytest.fixture(autouse=True)
    def population_counted(self, db):
        """The breaker counted Okta's users lately, so the sync's only user searches are the lookups."""
        SafetySettings.objects.update_or_create(
            pk=1, defaults={"active_population": 10_000, "active_population_counted_at": timezone.now()}
        )

    def test_the_okta_lookups_of_many_new_leavers_go_several_at_a_time(self, org, leaver, settings):
        settings.REVOCATION_PARALLEL_CALLS = 4
        for n in range(8):
            leaver(employee_id=f"E{n}", first=f"Person{n}", groups=("VPN",))
        org.fault("okta", "latency", "GET /api/v1/users", seconds=0.3)
        org.clear_requests()
        result = sync.sync_workday()
        assert len(result.created) == 8
        searches = [r for r in org.requests("okta") if "employeeNumber" in r["query"]]
        assert len(searches) == 8
        # Four at a time: as each arrived, Okta was answering at most four requests (itself included),
        # so the fifth search started only when one of the first four had been answered; and four at once.
        assert max(r["in_flight"] for r in searches) == 4
        cases = Case.objects.select_related("termination")
        assert {c.termination.employee_id: c.okta_login.split("@")[0] for c in cases} == {
            f"E{n}": f"person{n}.müller" for n in range(8)
        }
        assert all(c.identity == Case.Identity.EXACT and len(c.plan["remove"]) == 1 for c in cases)

    def test_a_failed_lookup_stays_with_its_own_case(self, org, leaver, settings):
        settings.REVOCATION_PARALLEL_CALLS = 4
        for n in range(6):
            leaver(employee_id=f"E{n}", first=f"Person{n}")
        org.fault("okta", "malformed", "GET /api/v1/users", count=1)
        sync.sync_workday()
        failed = AuditEvent.objects.filter(action="okta.lookup_failed")
        assert failed.count() == 1
        assert Case.objects.filter(identity=Case.Identity.EXACT).count() == 5
        assert Case.objects.exclude(identity=Case.Identity.EXACT).get().pk == failed.get().case_id

    def test_the_first_cases_are_decided_while_the_last_rows_are_still_being_stored(self, org, leaver):
        SafetySettings.objects.filter(pk=1).update(breaker_count=100, breaker_share=1.0)
        AutoApproveRule.objects.create(name="Everyone")
        for n in range(80):
            leaver(employee_id=f"E{n}", first=f"Person{n}", groups=("VPN",), app_groups=())
        result = sync.sync_workday()
        assert len(result.created) == 80 and not result.breaker_tripped
        decided = Case.objects.exclude(decided_at=None).values_list("decided_at", flat=True)
        assert len(decided) == 80
        # A layoff's revocations start with its first cases, not after its last row is stored.
        assert min(decided) < max(Case.objects.values_list("created_at", flat=True))

    def test_the_breaker_judges_the_whole_burst_before_any_case_of_it_is_decided(self, org, leaver):
        SafetySettings.objects.filter(pk=1).update(breaker_count=10)
        AutoApproveRule.objects.create(name="Everyone")
        for n in range(12):
            leaver(employee_id=f"E{n}", first=f"Person{n}", groups=("VPN",))
        result = sync.sync_workday()
        assert result.breaker_tripped and len(result.created) == 12
        assert not Case.objects.exclude(decided_at=None).exists()
        assert "12 new terminations in one sync" in SafetySettings.load().breaker_reason


class TestSecondSync:
    def test_it_changes_nothing_and_records_nothing(self, leaver):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace")
        sync.sync_workday()
        before = snapshot_of_database()
        result = sync.sync_workday()
        assert not result.changed
        assert snapshot_of_database() == before


class TestCorrection:
    def test_a_new_date_moves_the_effective_moment_and_is_audited(self, org, leaver):
        leaver(days_ahead=10)
        sync.sync_workday()
        old = only_case().effective_at
        new_date = date.today() + timedelta(days=3)
        org.correct_termination("E100", Termination_Date=new_date.isoformat())
        result = sync.sync_workday()
        case = only_case()
        assert result.updated == [case.pk]
        assert case.termination.termination_date == new_date
        assert case.left_on == new_date  # where the history's date filter finds it
        assert case.effective_at == old - timedelta(days=7)
        corrected = AuditEvent.objects.get(action="termination.corrected")
        assert corrected.after == {"termination_date": new_date.isoformat()}
        assert AuditEvent.objects.get(action="case.rescheduled").after["effective_at"] is not None


class TestRescind:
    def test_a_rescind_before_revocation_cancels_the_case(self, org, leaver):
        leaver()
        sync.sync_workday()
        org.rescind_termination("E100")
        result = sync.sync_workday()
        case = only_case()
        assert result.cancelled == [case.pk]
        assert case.state == Case.State.CANCELLED
        assert AuditEvent.objects.filter(action="case.cancelled").count() == 1

    def test_a_rescind_after_revocation_needs_attention(self, org, leaver, approver, mailoutbox, settings):
        settings.ALERT_EMAILS = ["security@example.com"]
        leaver(days_ahead=-1)
        sync.sync_workday()
        case = decisions.approve(only_case().pk, approver)
        revocation.run_case(case.pk)
        assert only_case().state == Case.State.COMPLETED
        org.rescind_termination("E100")
        sync.sync_workday()
        case = only_case()
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "Rescinded in Workday after access was revoked" in case.attention_reason
        assert any("needs attention" in m.subject for m in mailoutbox)

    def test_a_termination_rescinded_before_we_saw_it_opens_nothing(self, org, leaver):
        leaver()
        org.rescind_termination("E100")
        sync.sync_workday()
        assert not Case.objects.exists()


class TestReportProblems:
    def test_a_bad_row_is_kept_and_the_good_rows_still_go_through(self, org, leaver):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace", Termination_Date="the 5th of never")
        result = sync.sync_workday()
        assert result.row_errors == 1
        assert Case.objects.get().termination.employee_id == "E100"
        error = ReportRowError.objects.get()
        assert error.employee_id == "E200"
        assert "Termination_Date" in error.reason
        assert AuditEvent.objects.filter(action="workday.row_error").count() == 1

    def test_a_known_bad_row_is_not_recorded_again_and_resolves_when_fixed(self, org, leaver):
        leaver("E200", "Ada", "Lovelace", Termination_Date="the 5th of never")
        sync.sync_workday()
        sync.sync_workday()
        assert ReportRowError.objects.count() == 1
        assert AuditEvent.objects.filter(action="workday.row_error").count() == 1
        org.correct_termination("E200", Termination_Date=date.today().isoformat())
        sync.sync_workday()
        assert ReportRowError.objects.get().resolved_at is not None
        assert Case.objects.count() == 1

    def test_a_body_that_is_not_a_report_is_an_error_not_zero_terminations(self, org, leaver):
        leaver()
        sync.sync_workday()
        org.fault("workday", "malformed")
        with pytest.raises(VendorError):
            sync.sync_workday()
        assert only_case().state == Case.State.PENDING_REVIEW


POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def connections_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL shows the activity as first read, unless told to read it afresh.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


# SQLite has one writer at a time and no row locks to show; the race is between PostgreSQL sessions.
@pytest.mark.skipif(not POSTGRES, reason="row locks between sessions are shown on PostgreSQL")
@pytest.mark.django_db(transaction=True)
class TestConcurrentSyncs:
    def test_a_push_and_the_scheduled_sync_at_once_wait_for_each_other_and_open_one_case(self, sandbox, leaver):
        sandbox.reset(pending_terminations=0)
        leaver()
        SafetySettings.load()
        failures = []

        def push_or_poll():
            try:
                sync.sync_workday(employee_id="E100")
            except Exception as e:  # a failure in a thread would otherwise pass unseen
                failures.append(e)
            finally:
                connection.close()

        # Another sync holds the record lock; both that arrive meanwhile must wait for it, not look and create.
        threads = [threading.Thread(target=push_or_poll) for _ in range(2)]
        with transaction.atomic():
            SafetySettings.objects.select_for_update().get()
            for thread in threads:
                thread.start()
            wait_for(lambda: connections_waiting_for_a_lock() == 2, 30, "both syncs to wait for the record lock", 0.01)
        for thread in threads:
            thread.join(timeout=60)
        assert not failures
        assert Termination.objects.count() == 1
        assert Case.objects.count() == 1
