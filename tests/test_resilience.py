"""Bad days beyond the vendors' answers: Workday garbage, an empty report after a full one, the database
restarting mid-case (PostgreSQL), a queued revocation lost with the broker (Redis)."""

from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from offboarding import decisions, revocation, sync
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient
from offboarding.models import AuditEvent, Case, ReportRowError, SafetySettings, Termination
from tests.wrapped_clients import Wrapped, before

POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
REDIS = settings.Q_BROKER == "redis"


def snapshot() -> dict:
    """Everything a sync may change."""
    safety = SafetySettings.load()
    return {
        "terminations": list(Termination.objects.values_list("employee_id", "termination_date", "last_seen")),
        "cases": list(Case.objects.values_list("pk", "state", "effective_at")),
        "row_errors": list(ReportRowError.objects.values_list("fingerprint", "resolved_at")),
        "events": AuditEvent.objects.count(),
        "last_report_rows": safety.last_report_rows,
    }


class TestWorkdayGarbage:
    @pytest.mark.parametrize(
        "fault",
        [
            {"kind": "malformed"},  # an HTML error page with 200
            {"kind": "truncated"},  # the first half of the JSON
            {"kind": "malformed", "body": '{"Report_Entry": "nobody"}'},
            {"kind": "malformed", "body": '{"Report_Entry_Typo": []}'},
            {"kind": "malformed", "body": "[]"},
            {"kind": "malformed", "body": "null"},
        ],
        ids=["html", "truncated", "entries-not-a-list", "no-entries", "a-list", "null"],
    )
    def test_the_sync_raises_and_changes_nothing(self, org, leaver, fault):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace", Termination_Date="the 5th of never")
        sync.sync_workday()
        before = snapshot()
        org.fault("workday", fault.pop("kind"), **fault)
        with pytest.raises(VendorError, match="workday"):
            sync.sync_workday()
        assert snapshot() == before


@pytest.fixture
def full_report(org, leaver):
    """Three leavers synced, and an empty report after three rows counted as suspect."""
    SafetySettings.objects.update_or_create(pk=1, defaults={"empty_report_suspect_from": 3})
    for n in range(3):
        leaver(f"E{n}", f"Person{n}", "Test")
    sync.sync_workday()
    assert SafetySettings.load().last_report_rows == 3
    return org


EMPTY = '{"Report_Entry": []}'


class TestEmptyReportAfterAFullOne:
    def test_it_is_refused_audited_and_alerted_and_nothing_changes(self, full_report, mailoutbox, settings):
        settings.ALERT_EMAILS = ["security@example.com"]
        before = snapshot()
        full_report.fault("workday", "malformed", body=EMPTY)
        with pytest.raises(sync.SuspectReport, match="came back empty; the last one had 3 rows"):
            sync.sync_workday()
        after = snapshot()
        assert after["events"] == before["events"] + 1
        assert {**after, "events": before["events"]} == before
        event = AuditEvent.objects.order_by("-seq").first()
        assert event.action == "workday.report_suspect"
        assert event.after == {"rows": 0, "previous_rows": 3}
        assert [m.subject for m in mailoutbox] == ["[Offboarding] Workday report empty: refused as suspect"]
        assert AuditEvent.verify_chain()[0]

    def test_it_stays_refused_until_someone_accepts_it(self, full_report):
        full_report.fault("workday", "malformed", body=EMPTY)
        for _ in range(2):
            with pytest.raises(CommandError, match="--accept-empty-report"):
                call_command("sync_workday")
        call_command("sync_workday", "--accept-empty-report")
        assert SafetySettings.load().last_report_rows == 0
        call_command("sync_workday")  # empty after empty is an ordinary day

    def test_bad_rows_are_not_marked_resolved_by_a_suspect_report(self, full_report, leaver):
        leaver("E9", "Ada", "Lovelace", Termination_Date="the 5th of never")
        sync.sync_workday()
        full_report.fault("workday", "malformed", body=EMPTY)
        with pytest.raises(sync.SuspectReport):
            sync.sync_workday()
        assert ReportRowError.objects.get().resolved_at is None

    def test_an_empty_report_after_a_small_one_is_ordinary(self, org, leaver):
        SafetySettings.objects.update_or_create(pk=1, defaults={"empty_report_suspect_from": 3})
        leaver("E1")
        sync.sync_workday()
        org.fault("workday", "malformed", body=EMPTY)
        assert not sync.sync_workday().changed
        assert SafetySettings.load().last_report_rows == 0

    def test_one_workers_push_is_not_a_whole_report(self, full_report):
        full_report.fault("workday", "malformed", body=EMPTY)
        sync.sync_workday(employee_id="E404")
        assert SafetySettings.load().last_report_rows == 3

    def test_the_threshold_zero_turns_the_check_off(self, full_report, mailoutbox, settings):
        settings.ALERT_EMAILS = ["security@example.com"]
        SafetySettings.objects.filter(pk=1).update(empty_report_suspect_from=0)
        full_report.fault("workday", "malformed", body=EMPTY)
        assert not sync.sync_workday().changed  # taken as it is: no refusal, and the cases stay
        assert SafetySettings.load().last_report_rows == 0
        assert Case.objects.count() == 3
        assert not AuditEvent.objects.filter(action="workday.report_suspect").exists()
        # Its rows are gone, though: their cases go to a person (tests/test_vanished_rows.py), in one alert.
        assert [m.subject for m in mailoutbox] == [
            "[Offboarding] 3 cases need attention: no longer in Workday's report"
        ]


def okta_changes(sandbox) -> Counter:
    return Counter(f"{r['method']} {r['path']}" for r in sandbox.requests("okta") if r["method"] != "GET")


@pytest.mark.skipif(not POSTGRES, reason="the database restart is shown on PostgreSQL (DATABASE_URL=postgres://...)")
@pytest.mark.django_db(transaction=True)
class TestDatabaseRestartMidCase:
    def test_the_case_resumes_on_a_new_connection_and_ends_correctly(self, sandbox, leaver, approver):
        person = leaver(days_ahead=-1)
        sync.sync_workday()
        case = decisions.approve(Case.objects.get().pk, approver, "HR confirmed")
        sandbox.clear_requests()
        db = settings.DATABASES["default"]
        admin_dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname=postgres"
        if db["PASSWORD"]:
            admin_dsn += f" password={db['PASSWORD']}"
        killed = []

        def drop_our_connections():
            # The database drops every connection of ours, as a restart does, mid-case.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            with psycopg.connect(admin_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            killed.append(pid)

        # Just before the read-back (GET): every change is recorded, none is in flight.
        okta = Wrapped(OktaClient.from_settings(), get_user=before(2, drop_our_connections))
        assert revocation.run_case(case.pk, okta=okta) == Case.State.COMPLETED
        assert killed
        case = Case.objects.get()
        assert case.ticket == Case.Ticket.FILED
        assert sandbox.okta_user(person["user_id"])["status"] == "DEPROVISIONED"
        assert all(n == 1 for n in okta_changes(sandbox).values()), okta_changes(sandbox)
        assert len(sandbox.jira_issues()) == 1
        assert AuditEvent.verify_chain()[0]

    def test_a_task_after_the_restart_gets_a_healthy_connection(self):
        # What django-q2 does before each task, with CONN_HEALTH_CHECKS: a dead connection is replaced.
        assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        db = settings.DATABASES["default"]
        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname="postgres"
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            admin.commit()
        from django_q.utils import close_old_django_connections

        close_old_django_connections()
        assert Case.objects.count() == 0


@pytest.fixture
def own_queue():
    """The test run's own queue in the broker (Q_CLUSTER_NAME, tests/testenv.py), emptied before and after."""
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


def run_next_task(broker) -> str:
    """What a worker does with the next task: take it from the queue and run its function."""
    task_id, payload = broker.dequeue()[0]
    task = SignedPackage.loads(payload)
    broker.acknowledge(task_id)
    assert task["func"] == "offboarding.revocation.run_case"
    return revocation.run_case(*task["args"], **task["kwargs"])


@pytest.mark.skipif(not REDIS, reason="the broker restart is shown with Q_BROKER=redis")
class TestBrokerRestartWithTasksQueued:
    def test_a_queued_revocation_lost_with_the_broker_is_enqueued_again(self, org, leaver, approver, own_queue):
        leaver(days_ahead=-1)
        sync.sync_workday()
        case = decisions.approve(Case.objects.get().pk, approver)
        revocation.enqueue(case.pk)
        assert own_queue.queue_size() == 1
        # Redis restarts without persistence (as CI runs it): the queue is gone, the case still approved.
        own_queue.connection.delete(own_queue.list_key)
        assert own_queue.queue_size() == 0
        assert Case.objects.get().state == Case.State.APPROVED
        call_command("run_due", "--enqueue")
        assert own_queue.queue_size() == 1
        assert run_next_task(own_queue) == Case.State.COMPLETED

    def test_a_case_whose_worker_went_with_the_broker_is_enqueued_when_its_lease_runs_out(
        self, org, leaver, approver, own_queue
    ):
        leaver(days_ahead=-1)
        sync.sync_workday()
        case = decisions.approve(Case.objects.get().pk, approver)
        assert revocation.claim(case.pk, "worker-that-died")
        call_command("run_due", "--enqueue")
        assert own_queue.queue_size() == 0  # its lease still runs
        Case.objects.filter(pk=case.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        call_command("run_due", "--enqueue")
        assert run_next_task(own_queue) == Case.State.COMPLETED
        assert len(org.jira_issues()) == 1
