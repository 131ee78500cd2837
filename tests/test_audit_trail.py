"""The audit trail: append-only, hash-chained, tamper-evident, secret-free."""

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from offboarding.models import EVENTS_PER_INSERT, Actor, AuditChainHead, AuditEvent, Case
from offboarding.request_id import request_id
from tests.factories import record_three, run_sql


@pytest.mark.django_db
class TestRecording:
    def test_it_keeps_the_actor_and_a_name_snapshot(self, approver):
        record_three(approver)
        event = AuditEvent.objects.get(action="case.approved")
        assert event.actor == approver
        assert event.actor_name == "alice"
        assert event.before == {"state": "pending_review"}
        assert event.after == {"state": "approved"}

    def test_a_rule_or_a_job_is_named_as_the_actor(self):
        case = Case.objects.create()
        event = AuditEvent.record("case.approved", actor=Actor("rule:7"), case=case)
        assert event.actor is None
        assert event.actor_name == "rule:7"

    def test_it_chains_each_event_to_the_previous_one(self, approver):
        record_three(approver)
        first, second, third = AuditEvent.objects.all()
        assert first.prev_hash == "0" * 64
        assert second.prev_hash == first.hash
        assert third.prev_hash == second.hash

    def test_several_events_appended_at_once_keep_their_order_in_the_chain(self, approver):
        AuditEvent.record("case.opened", actor=Actor.system("test"))
        events = AuditEvent.record_many(
            [AuditEvent.entry(f"okta.step.{n}", actor=approver, after={"n": n}) for n in range(3)]
        )
        assert [e.seq for e in events] == [2, 3, 4]
        stored = list(AuditEvent.objects.all())
        assert [e.action for e in stored] == ["case.opened", "okta.step.0", "okta.step.1", "okta.step.2"]
        assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
        assert stored[2].actor == approver and stored[2].after == {"n": 1}
        assert AuditEvent.verify_chain() == (True, "4 events verified")
        assert AuditEvent.record_many([]) == []
        assert AuditEvent.record("case.closed", actor=Actor.system("test")).seq == 5

    def test_a_batch_larger_than_one_insert_is_appended_whole_with_each_events_id(self, approver):
        events = AuditEvent.record_many(
            [AuditEvent.entry("okta.step", actor=approver, after={"n": n}) for n in range(EVENTS_PER_INSERT + 7)]
        )
        stored = {e.pk: e for e in AuditEvent.objects.all()}
        assert [stored[e.pk].after for e in events] == [{"n": n} for n in range(EVENTS_PER_INSERT + 7)]
        assert [stored[e.pk].seq for e in events] == list(range(1, EVENTS_PER_INSERT + 8))
        assert AuditChainHead.objects.get().last_hash == events[-1].hash
        assert AuditEvent.verify_chain() == (True, f"{EVENTS_PER_INSERT + 7} events verified")

    def test_under_the_heads_lock_an_append_only_writes_the_events_and_the_head(self, approver):
        AuditEvent.record("case.opened", actor=Actor.system("test"))  # the head exists
        entries = [AuditEvent.entry(f"okta.step.{n}", actor=approver, after={"n": n}) for n in range(3)]
        with CaptureQueriesContext(connection) as queries:
            AuditEvent.record_many(entries)
        sql = [q["sql"] for q in queries.captured_queries]
        lock = next(i for i, q in enumerate(sql) if q.startswith('SELECT "last_seq", "last_hash"'))
        held = [q for q in sql[lock + 1 :] if not q.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
        if connection.vendor == "postgresql":  # one statement: the events and the new head
            assert sql[lock].endswith("FOR UPDATE")
            assert len(held) == 1 and "UPDATE" in held[0] and 'INSERT INTO "offboarding_auditevent"' in held[0]
        else:
            assert [q.split()[0] for q in held] == ["INSERT", "UPDATE"]

    def test_it_carries_the_request_id(self):
        with request_id("req-123"):
            event = AuditEvent.record("case.opened", actor=Actor.system("test"))
        assert event.request_id == "req-123"

    def test_it_never_stores_secrets(self):
        event = AuditEvent.record(
            "okta.call",
            actor=Actor.system("test"),
            after={
                "headers": {"Authorization": "SSWS abc"},
                "api_token": "abc",
                "nested": [{"password": "pw"}],
                "ok": 1,
            },
        )
        event.refresh_from_db()
        assert "abc" not in str(event.after)
        assert "pw" not in str(event.after)
        assert event.after["ok"] == 1

    def test_events_cannot_be_changed_or_deleted_through_the_orm(self, approver):
        record_three(approver)
        event = AuditEvent.objects.first()
        event.action = "case.rejected"
        with pytest.raises(TypeError):
            event.save()
        with pytest.raises(TypeError):
            event.delete()
        with pytest.raises(TypeError):
            AuditEvent.objects.filter(pk=event.pk).update(action="x")
        with pytest.raises(TypeError):
            AuditEvent.objects.all().delete()

    def test_a_web_request_is_stamped_with_an_id(self, client, approver):
        client.force_login(approver)
        response = client.get("/")
        assert len(response["X-Request-Id"]) == 32


@pytest.mark.skipif(connection.vendor != "postgresql", reason="appends from several connections at once")
@pytest.mark.django_db(transaction=True)
def test_appends_from_several_connections_at_once_make_one_unbroken_chain():
    def append(n: int) -> None:
        try:
            for batch in range(10):
                AuditEvent.record_many(
                    [AuditEvent.entry("okta.step", actor=Actor.system(f"w{n}"), after={"b": batch}) for _ in range(3)]
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, 181))
    assert AuditEvent.verify_chain() == (True, "180 events verified")
    assert AuditChainHead.objects.get().last_seq == 180


@pytest.mark.django_db
@pytest.mark.usefixtures("org")  # the check reads the anchors back from (the sandbox's) Jira
class TestVerifyAuditLog:
    def test_it_passes_an_intact_log(self, approver, capsys):
        record_three(approver)
        call_command("verify_audit_log")
        assert "Audit log intact: 3 events verified" in capsys.readouterr().out
        assert AuditEvent.verify_case(Case.objects.get())

    def test_it_names_an_edited_event(self, approver, mailoutbox, settings):
        settings.ALERT_EMAILS = ["security@example.com"]
        case = record_three(approver)
        run_sql("UPDATE offboarding_auditevent SET after = %s WHERE seq = 2", '{"state": "rejected"}')
        with pytest.raises(CommandError, match=r"event #2 \(case.approved\) was altered"):
            call_command("verify_audit_log")
        assert not AuditEvent.verify_case(case)
        # The nightly check runs unattended: a broken chain is mailed, not only logged.
        assert [m.subject for m in mailoutbox] == ["[Offboarding] The audit log is NOT intact"]

    def test_it_names_a_deleted_event(self, approver):
        record_three(approver)
        run_sql("DELETE FROM offboarding_auditevent WHERE seq = 2")
        with pytest.raises(CommandError, match=r"event #2 is missing"):
            call_command("verify_audit_log")

    def test_it_notices_the_newest_event_deleted(self, approver):
        record_three(approver)
        run_sql("DELETE FROM offboarding_auditevent WHERE seq = 3")
        with pytest.raises(CommandError, match=r"ends at #2 but the head says #3"):
            call_command("verify_audit_log")

    def test_it_names_an_inserted_event(self, approver):
        record_three(approver)
        # Make room after #1 and insert a forged event there, even with a correct hash of its own.
        first = AuditEvent.objects.get(seq=1)
        for seq in (3, 2):
            run_sql("UPDATE offboarding_auditevent SET seq = %s WHERE seq = %s", seq + 1, seq)
        # Even sealed with the key: the chain gives the insertion away.
        forged = AuditEvent(
            seq=2,
            at=first.at,
            actor_name="mallory",
            action="case.approved",
            prev_hash=first.hash,
            object_repr="",
            key_id=first.key_id,
        )
        forged.hash = forged.compute_hash()
        forged.save()
        with pytest.raises(CommandError, match=r"event #3 does not follow #2: an event was inserted or removed"):
            call_command("verify_audit_log")
