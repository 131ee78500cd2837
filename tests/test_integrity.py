"""The audit log's integrity: the whole chain checked on a page (in the background) and by the command, each
check kept."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from offboarding import integrity
from offboarding.models import Actor, AuditCheck, AuditEvent
from tests.factories import record_three, run_sql


@pytest.fixture(autouse=True)
def jira(org):
    """The check reads the audit anchors back from Jira: the sandbox's."""
    return org


@pytest.fixture(autouse=True)
def broker():
    """The test run's own queue (Q_CLUSTER_NAME), empty before and after."""
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


@pytest.fixture
def signed_in(client, auditor):
    client.force_login(auditor)
    return client


def run_the_queued_check() -> None:
    """What a worker does: take the check from the queue and run it."""
    broker = get_broker()
    (task_id, payload), *rest = broker.dequeue()
    assert rest == []
    task = SignedPackage.loads(payload)
    broker.acknowledge(task_id)
    assert task["func"] == "offboarding.integrity.run_check"
    integrity.run_check(*task["args"], **task["kwargs"])


def start_check(client):
    response = client.post(reverse("integrity_verify"))
    assert response.status_code == 302 and response["Location"] == reverse("integrity")
    return response


def verify_now(client):
    start_check(client)
    run_the_queued_check()
    return client.get(reverse("integrity"))


@pytest.mark.django_db
class TestIntegrityPage:
    def test_it_says_when_the_chain_was_never_checked(self, signed_in):
        assert "The chain has not been checked yet." in signed_in.get(reverse("integrity")).content.decode()

    def test_it_checks_an_intact_chain_and_shows_when(self, signed_in, approver):
        record_three(approver)
        page = verify_now(signed_in).content.decode()
        check = AuditCheck.objects.get()
        assert check.intact and check.message == "3 events verified; no anchor in Jira yet"
        assert check.actor.username == "bob" and check.actor_name == "bob"
        assert "Intact: 3 events verified; no anchor in Jira yet." in page
        assert f"{check.finished_at:%Y-%m-%d %H:%M:%S}" in page

    def test_it_names_the_altered_event_of_a_tampered_chain(self, signed_in, approver):
        record_three(approver)
        run_sql("UPDATE offboarding_auditevent SET actor_name = %s WHERE seq = 2", "mallory")
        page = verify_now(signed_in).content.decode()
        assert "NOT intact: event #2 (case.approved) was altered or forged: its seal is not the key&#x27;s" in page
        assert not AuditCheck.objects.get().intact

    def test_it_notices_events_deleted_from_the_end(self, signed_in, approver):
        record_three(approver)
        run_sql("DELETE FROM offboarding_auditevent WHERE seq = 3")
        assert "the head says #3: events removed" in verify_now(signed_in).content.decode()

    def test_merely_looking_does_not_check(self, signed_in, approver):
        record_three(approver)
        signed_in.get(reverse("integrity"))
        assert not AuditCheck.objects.exists()

    def test_it_keeps_every_check_newest_first(self, signed_in, approver):
        record_three(approver)
        verify_now(signed_in)
        run_sql("UPDATE offboarding_auditevent SET after = %s WHERE seq = 1", "{}")
        checks = verify_now(signed_in).context["checks"]
        assert [c.intact for c in checks] == [False, True]

    def test_the_page_itself_only_reads(self, client, admin_user):
        client.force_login(admin_user)
        assert client.post(reverse("integrity"), {"verify": "now"}).status_code == 405
        assert not AuditCheck.objects.exists()


@pytest.mark.django_db
class TestCheckInTheBackground:
    def test_a_link_cannot_start_a_check(self, auditor, approver, broker):
        record_three(approver)
        client = Client(enforce_csrf_checks=True)
        client.force_login(auditor)
        assert client.get(reverse("integrity"), {"verify": "now"}).status_code == 200
        assert client.get(reverse("integrity_verify")).status_code == 405
        assert client.post(reverse("integrity_verify")).status_code == 403  # no CSRF token
        assert not AuditCheck.objects.exists()
        assert broker.queue_size() == 0

    def test_it_shows_the_check_running_then_its_result(self, signed_in, approver, broker):
        record_three(approver)
        start_check(signed_in)
        page = signed_in.get(reverse("integrity")).content.decode()
        assert "A check of the whole chain is running" in page and "by bob" in page
        assert "Check the whole chain now" not in page
        assert '<meta http-equiv="refresh"' in page
        assert broker.queue_size() == 1
        run_the_queued_check()
        page = signed_in.get(reverse("integrity")).content.decode()
        assert "Intact: 3 events verified; no anchor in Jira yet." in page
        assert "is running" not in page and "Check the whole chain now" in page

    def test_a_second_request_while_one_runs_is_told_so_and_starts_nothing(
        self, signed_in, approver, admin_user, broker
    ):
        record_three(approver)
        start_check(signed_in)
        other = Client()
        other.force_login(admin_user)
        response = other.post(reverse("integrity_verify"), follow=True)
        assert "A check of the whole chain is already running" in response.content.decode()
        assert AuditCheck.objects.count() == 1
        assert broker.queue_size() == 1
        run_the_queued_check()
        assert AuditCheck.objects.get().intact is True

    def test_a_check_whose_worker_died_says_so_and_does_not_block_the_next(self, signed_in, approver, settings):
        record_three(approver)
        lost = AuditCheck.begin(Actor.system("test"))
        AuditCheck.objects.filter(pk=lost.pk).update(
            started_at=timezone.now() - timedelta(seconds=settings.Q_TIMEOUT + 120)
        )
        page = verify_now(signed_in).content.decode()
        assert "Intact: 3 events verified; no anchor in Jira yet." in page
        assert "did not finish (its worker stopped)" in page
        lost.refresh_from_db()
        assert not lost.running and lost.intact is None

    def test_a_broken_chain_found_in_the_background_is_alerted(self, signed_in, approver, settings, mailoutbox):
        settings.ALERT_EMAILS = ["security@acme.example"]
        record_three(approver)
        run_sql("UPDATE offboarding_auditevent SET actor_name = %s WHERE seq = 2", "mallory")
        verify_now(signed_in)
        (mail,) = mailoutbox
        assert "NOT intact" in mail.subject and "event #2 (case.approved) was altered" in mail.body


@pytest.mark.django_db
class TestIntegrityCommand:
    def test_it_keeps_its_result_for_the_page(self, signed_in, approver):
        record_three(approver)
        call_command("verify_audit_log")
        page = signed_in.get(reverse("integrity")).content.decode()
        assert "Intact: 3 events verified; no anchor in Jira yet." in page and "system:verify_audit_log" in page

    def test_it_keeps_a_failed_check_too(self, approver):
        record_three(approver)
        run_sql("UPDATE offboarding_auditevent SET after = %s WHERE seq = 2", '{"state": "rejected"}')
        with pytest.raises(CommandError):
            call_command("verify_audit_log")
        message = AuditCheck.objects.get().message
        assert message == "event #2 (case.approved) was altered or forged: its seal is not the key's"


@pytest.mark.django_db
class TestChainWhileEventsArrive:
    def test_an_event_appended_during_the_walk_is_no_false_alarm(self, approver):
        record_three(approver)
        appended = []

        def append_after_the_walk_starts(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if not appended and 'FROM "offboarding_auditevent"' in sql and "ORDER BY" in sql:
                appended.append(AuditEvent.record("case.opened", actor=Actor.system("sync_workday")))
            return result

        with connection.execute_wrapper(append_after_the_walk_starts):
            intact, message = AuditEvent.verify_chain()
        assert appended
        assert intact, message

    def test_an_event_forged_after_the_head_is_caught(self, approver):
        record_three(approver)
        last = AuditEvent.objects.get(seq=3)
        # Even sealed with the key, by someone holding it: the head gives it away.
        forged = AuditEvent(
            seq=4, at=last.at, actor_name="mallory", action="case.approved", prev_hash=last.hash, key_id=last.key_id
        )
        forged.hash = forged.compute_hash()
        forged.save()
        intact, message = AuditEvent.verify_chain()
        assert not intact
        assert message == "the chain ends at #4 but the head says #3: events added"
