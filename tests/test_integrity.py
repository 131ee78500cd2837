"""The audit log's integrity: the whole chain checked on a page and by the command, each check kept."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from offboarding.models import Actor, AuditCheck, AuditEvent
from tests.factories import record_three, run_sql


@pytest.fixture
def signed_in(client, auditor):
    client.force_login(auditor)
    return client


def verify_now(client):
    response = client.get(reverse("integrity"), {"verify": "now"})
    assert response.status_code == 302
    return client.get(response["Location"])


@pytest.mark.django_db
class TestIntegrityPage:
    def test_it_says_when_the_chain_was_never_checked(self, signed_in):
        assert "The chain has not been checked yet." in signed_in.get(reverse("integrity")).content.decode()

    def test_it_checks_an_intact_chain_and_shows_when(self, signed_in, approver):
        record_three(approver)
        page = verify_now(signed_in).content.decode()
        check = AuditCheck.objects.get()
        assert check.intact and check.message == "3 events verified"
        assert check.actor.username == "bob" and check.actor_name == "bob"
        assert "Intact: 3 events verified." in page
        assert f"{check.finished_at:%Y-%m-%d %H:%M:%S}" in page

    def test_it_names_the_altered_event_of_a_tampered_chain(self, signed_in, approver):
        record_three(approver)
        run_sql("UPDATE offboarding_auditevent SET actor_name = %s WHERE seq = 2", "mallory")
        page = verify_now(signed_in).content.decode()
        assert "NOT intact: event #2 (case.approved) was altered." in page
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

    def test_only_get(self, client, admin_user):
        client.force_login(admin_user)
        assert client.post(reverse("integrity"), {"verify": "now"}).status_code == 405
        assert not AuditCheck.objects.exists()


@pytest.mark.django_db
class TestIntegrityCommand:
    def test_it_keeps_its_result_for_the_page(self, signed_in, approver):
        record_three(approver)
        call_command("verify_audit_log")
        page = signed_in.get(reverse("integrity")).content.decode()
        assert "Intact: 3 events verified." in page and "system:verify_audit_log" in page

    def test_it_keeps_a_failed_check_too(self, approver):
        record_three(approver)
        run_sql("UPDATE offboarding_auditevent SET after = %s WHERE seq = 2", '{"state": "rejected"}')
        with pytest.raises(CommandError):
            call_command("verify_audit_log")
        assert AuditCheck.objects.get().message == "event #2 (case.approved) was altered"


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
        forged = AuditEvent(seq=4, at=last.at, actor_name="mallory", action="case.approved", prev_hash=last.hash)
        forged.hash = forged.compute_hash()
        forged.save()
        intact, message = AuditEvent.verify_chain()
        assert not intact
        assert message == "the chain ends at #4 but the head says #3: events added"
