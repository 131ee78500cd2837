"""Evidence that holds against the database's own administrator (issue 19).

Each tamper below is done as someone holding the database would do it (plain SQL, seals recomputed with
plain SHA-256 or a key of their own, the head moved to match), and the check must name it; the same
chain untouched verifies clean. Anchors are read back from the sandbox's Jira over HTTP.
"""

import hashlib
import hmac
import importlib
import json
import logging

import pytest
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse

from offboarding import integrity, revocation, sync, tickets
from offboarding.clients import adf
from offboarding.clients.jira import JiraClient
from offboarding.models import Actor, AuditChainHead, AuditEvent, AutoApproveRule, Case
from offboarding.settings import audit_key_id, audit_keys
from tests.factories import record_three, run_sql
from tests.processes import PRODUCTION, manage

ATTACKER_KEY = b"a key of the attacker's own, not the audit key"


def seal(event: AuditEvent, key: bytes | None) -> str:
    """The seal an attacker computes: plain SHA-256 without a key, else HMAC-SHA-256 under `key`."""
    payload = json.dumps(event.content(), sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest() if key else hashlib.sha256(payload).hexdigest()


def rewrite(seq: int, key: bytes | None, *, blank_key_id: bool = False, **changes) -> None:
    """Change event #seq, re-seal it and every later event with `key`, and move the head to match."""
    prev = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        if event.seq == seq:
            for name, value in changes.items():
                setattr(event, name, value)
        event.key_id = "" if blank_key_id else event.key_id
        event.prev_hash = prev
        event.hash = prev = seal(event, key)
        run_sql(
            "UPDATE offboarding_auditevent SET actor_name = %s, key_id = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            event.actor_name,
            event.key_id,
            event.prev_hash,
            event.hash,
            event.seq,
        )
    run_sql("UPDATE offboarding_auditchainhead SET last_hash = %s", prev)


def cut_the_tail(keep: int) -> None:
    """Delete every event after #keep and move the head back to it."""
    last = AuditEvent.objects.get(seq=keep)
    run_sql("DELETE FROM offboarding_auditevent WHERE seq > %s", keep)
    run_sql("UPDATE offboarding_auditchainhead SET last_seq = %s, last_hash = %s", keep, last.hash)


def forge_and_append(key: bytes | None, case: Case | None = None) -> AuditEvent:
    """Append an event nobody recorded, sealed with `key`, and move the head to it."""
    last = AuditEvent.objects.order_by("-seq").first()
    forged = AuditEvent(
        seq=last.seq + 1,
        at=last.at,
        actor_name="mallory",
        action="case.approved",
        case=case,
        prev_hash=last.hash,
        key_id=last.key_id,
        after={"state": "approved"},
    )
    forged.hash = seal(forged, key)
    forged.save()
    run_sql("UPDATE offboarding_auditchainhead SET last_seq = %s, last_hash = %s", forged.seq, forged.hash)
    return forged


def the_key(settings) -> bytes:
    return settings.AUDIT_KEYS[next(iter(settings.AUDIT_KEYS))]


def check() -> tuple[bool | None, str]:
    done = integrity.check_now(Actor.system("test"))
    return done.intact, done.message


def texts_of(issue: dict) -> list[str]:
    return [adf.plain_text(issue["fields"]["description"])] + [adf.plain_text(c["body"]) for c in issue["comments"]]


@pytest.fixture
def filed_case(org, approved_case):
    """A case revoked and its ticket filed, then the periodic anchor written: the chain as it is every day."""
    case = approved_case()
    assert revocation.run_case(case.pk) == Case.State.COMPLETED
    case.refresh_from_db()
    assert case.ticket == Case.Ticket.FILED
    integrity.anchor_chain_head()
    return case


@pytest.mark.django_db
class TestAnUntouchedChain:
    def test_it_verifies_clean_against_every_anchor_and_says_so_in_an_audit_event(self, filed_case):
        intact, message = check()
        assert intact, message
        assert "anchors in Jira agree" in message and "case decision matches the events that recorded it" in message
        result = AuditEvent.objects.get(action="audit.verified")
        assert result.actor_name == "system:test"
        places = [a["where"] for a in result.after["anchors"]]
        assert result.after["anchors_compared"] == len(places) >= 2
        assert f"{filed_case.jira_key} description" in places
        assert any(where.startswith("SEC-") and "comment" in where for where in places)
        assert result.after["anchors_contradicted"] == [] and result.after["decision_mismatches"] == []

    def test_another_installations_anchors_in_the_same_jira_project_are_not_read_as_this_ones(
        self, filed_case, settings
    ):
        # Staging (install id "staging") files into the same project: its tickets and its anchor issue carry
        # its own chain's seals, which would contradict ours at every event number both chains have.
        ours = settings.OFFBOARDING_INSTALL_ID
        settings.OFFBOARDING_INSTALL_ID = "staging"
        jira = JiraClient.from_settings()
        forged = adf.doc(adf.paragraph(integrity.anchor_text(1, "f" * 64, 1, 1)))
        jira.create_issue(
            "Offboarding: someone on staging",
            forged,
            ["offboarding", "offboarding-staging-case-1", integrity.case_ticket_label()],
        )
        jira.create_issue("Offboarding audit log anchors", forged, [integrity.anchor_label()])
        settings.OFFBOARDING_INSTALL_ID = ours
        intact, message = check()
        assert intact, message
        # Read the same way under staging's id, the forged seals are found and named.
        settings.OFFBOARDING_INSTALL_ID = "staging"
        intact, message = check()
        assert intact is False and "contradicts the anchor" in message

    def test_its_evidence_page_says_the_decision_is_as_recorded(self, filed_case, client, auditor):
        client.force_login(auditor)
        page = client.get(reverse("evidence", args=[filed_case.pk])).content.decode()
        assert 'id="decision-checked"' in page and "As recorded:" in page
        assert "NOT as recorded" not in page


@pytest.mark.django_db
class TestTampering:
    def test_deleting_the_tail_and_moving_the_head_back_is_named_by_the_anchor(self, filed_case):
        anchored = AuditEvent.objects.get(action="audit.anchored").after["seq"]  # the periodic anchor's head
        keep = anchored - 5
        cut_the_tail(keep)
        assert AuditEvent.verify_chain()[0]  # the chain alone cannot tell
        intact, message = check()
        assert intact is False
        assert f"events #{keep + 1} to #{anchored} are missing" in message
        assert "anchored the chain at" in message and "SEC-" in message

    @pytest.mark.parametrize(
        ("key", "blank_key_id", "named"),
        [
            (None, False, "was altered or forged: its seal is not the key's"),  # plain SHA-256, key id left
            (None, True, "is not sealed with the key"),  # plain SHA-256, as if sealed before the key
            (ATTACKER_KEY, False, "was altered or forged: its seal is not the key's"),  # a key of their own
        ],
        ids=["plain-sha256", "plain-sha256-no-key-id", "wrong-key"],
    )
    def test_an_event_rewritten_and_resealed_without_the_key_is_named(self, filed_case, key, blank_key_id, named):
        approved = AuditEvent.objects.get(case=filed_case, action="case.approved")
        rewrite(approved.seq, key, blank_key_id=blank_key_id, actor_name="admin")
        intact, message = check()
        assert intact is False
        assert message.startswith(f"event #{approved.seq} (case.approved) {named}")
        assert "contradicts the anchor on" in message  # the anchors after it disagree too

    def test_an_event_rewritten_by_someone_holding_the_key_is_caught_by_the_anchors(self, filed_case, settings):
        approved = AuditEvent.objects.get(case=filed_case, action="case.approved")
        rewrite(approved.seq, the_key(settings), actor_name="admin")
        assert AuditEvent.verify_chain()[0]  # sealed with the real key: the chain alone cannot tell
        intact, message = check()
        assert intact is False
        anchors = integrity.read_anchors(JiraClient.from_settings())
        first = min(a.seq for a in anchors if a.seq >= approved.seq)
        assert f"event #{first} contradicts the anchor on SEC-" in message
        assert f"the chain was rewritten at or before #{first}" in message

    def test_a_forged_event_appended_with_the_head_moved_is_named(self, filed_case):
        forged = forge_and_append(None, filed_case)
        intact, message = check()
        assert intact is False
        assert message.startswith(f"event #{forged.seq} (case.approved) was altered or forged")

    def test_a_forged_event_sealed_with_a_wrong_key_is_named(self, filed_case):
        forged = forge_and_append(ATTACKER_KEY, filed_case)
        intact, message = check()
        assert intact is False and message.startswith(f"event #{forged.seq} (case.approved) was altered or forged")

    def test_rewriting_who_decided_is_named_on_the_evidence_page_and_by_the_check(
        self, filed_case, admin_user, client, auditor
    ):
        run_sql("UPDATE offboarding_case SET decided_by_id = %s WHERE id = %s", admin_user.pk, filed_case.pk)
        assert AuditEvent.verify_chain()[0]  # no event was touched
        client.force_login(auditor)
        page = client.get(reverse("evidence", args=[filed_case.pk])).content.decode()
        assert "NOT as recorded:" in page
        # Named against the latest event that recorded it (every state change records the decision as it stands).
        events = AuditEvent.objects.filter(case=filed_case, after__has_key="decision_record").order_by("-seq")
        last = next(e for e in events if "decided_by" in e.after["decision_record"])
        assert (
            f"decided by is &quot;carol&quot; in the database, but event #{last.seq} ({last.action}) "
            "recorded &quot;alice&quot;" in page
        )
        intact, message = check()
        assert intact is False
        assert f'case {filed_case.pk}: decided by is "carol" in the database' in message
        assert f'event #{last.seq} ({last.action}) recorded "alice"' in message

    def test_rewriting_an_approval_row_is_named(self, filed_case, admin_user, client, auditor):
        run_sql("UPDATE offboarding_approval SET user_id = %s WHERE case_id = %s", admin_user.pk, filed_case.pk)
        intact, message = check()
        assert intact is False
        assert f"case {filed_case.pk}: approvals is" in message and '"carol"' in message and '"alice"' in message
        client.force_login(auditor)
        assert "NOT as recorded:" in client.get(reverse("evidence", args=[filed_case.pk])).content.decode()

    def test_an_approval_added_to_a_rules_decision_is_named(self, org, leaver, admin_user):
        AutoApproveRule.objects.create(name="Everyone leaving")
        leaver(days_ahead=-1)
        sync.sync_workday()
        case = Case.objects.get()
        assert case.decided_by_rule_id and not case.approvals.exists()
        run_sql(
            "INSERT INTO offboarding_approval (case_id, user_id, reason, at) VALUES (%s, %s, %s, %s)",
            case.pk,
            admin_user.pk,
            "",
            "2026-12-01 00:00:00",
        )
        intact, message = check()
        assert intact is False
        assert f'case {case.pk}: approvals is [["carol", ' in message and "(case.opened) recorded []" in message

    def test_moving_the_effective_moment_or_the_jira_key_is_named(self, filed_case):
        run_sql(
            "UPDATE offboarding_case SET effective_at = %s, jira_key = %s WHERE id = %s",
            "2020-01-01 00:00:00",
            "SEC-999",
            filed_case.pk,
        )
        intact, message = check()
        assert intact is False
        assert "effective at is" in message and '"SEC-999" in the database' in message

    def test_moving_where_keyed_sealing_began_contradicts_the_anchors(self, filed_case):
        run_sql("UPDATE offboarding_auditchainhead SET keyed_from_seq = 10000")
        intact, message = check()
        assert intact is False
        assert "the database says events before #10000 were sealed without a key" in message
        assert "says #1" in message


@pytest.mark.django_db
class TestTheKey:
    def test_each_event_is_sealed_with_hmac_under_the_key_and_names_it(self, approver, settings):
        record_three(approver)
        current = next(iter(settings.AUDIT_KEYS))
        for event in AuditEvent.objects.all():
            assert event.key_id == current
            assert event.hash == seal(event, the_key(settings))
            assert event.hash != seal(event, None)

    def test_rotating_the_key_keeps_old_events_verifiable(self, approver, settings):
        old_key = "the audit key of last year: rotated out now 0123456789"
        new_key = "the audit key of this year, kept in the vault 9876543210"
        settings.AUDIT_KEYS = audit_keys(old_key, "")
        record_three(approver)
        settings.AUDIT_KEYS = audit_keys(new_key, old_key)  # AUDIT_KEY=new, AUDIT_KEYS_PREVIOUS=old
        AuditEvent.record("case.opened", actor=Actor.system("test"))
        assert [e.key_id for e in AuditEvent.objects.all()] == [audit_key_id("", old_key)] * 3 + [
            audit_key_id("", new_key)
        ]
        assert AuditEvent.verify_chain() == (True, "4 events verified")
        settings.AUDIT_KEYS = audit_keys(new_key, "")  # the earlier key forgotten
        intact, message = AuditEvent.verify_chain()
        assert not intact
        assert message.startswith(f"event #1 (case.opened) names key {audit_key_id('', old_key)}")

    def test_the_key_is_never_in_the_database_nor_in_the_log(self, org, approved_case, settings, caplog):
        caplog.set_level(logging.DEBUG)
        case = approved_case()
        revocation.run_case(case.pk)
        integrity.anchor_chain_head()
        check()
        key = the_key(settings).decode()
        models = [m for m in apps.get_app_config("offboarding").get_models()]
        dumped = "".join(serializers.serialize("json", m.objects.all()) for m in models)
        assert AuditEvent.objects.count() >= 20
        assert key not in dumped and key not in caplog.text
        assert not hasattr(settings, "AUDIT_KEY")  # only AUDIT_KEYS, which Django's error pages mask

    def test_debug_off_without_an_audit_key_refuses_to_start_naming_the_variable(self):
        result = manage("check", **{k: v for k, v in PRODUCTION.items() if k != "AUDIT_KEY"})
        assert result.returncode != 0
        assert "AUDIT_KEY must be set (or AUDIT_KEY_FILE)" in result.stderr

    def test_a_short_key_is_refused_naming_the_variable(self):
        result = manage("check", **{**PRODUCTION, "AUDIT_KEYS_PREVIOUS": "short"})
        assert result.returncode != 0
        assert "AUDIT_KEYS_PREVIOUS: an audit key must be at least 32 characters long" in result.stderr

    def test_the_keys_can_come_from_files(self, tmp_path):
        (tmp_path / "key").write_text("the current audit key from a file 0123456789\n")
        (tmp_path / "previous").write_text(
            "an earlier audit key: the first of two 0123456789\nan earlier audit key: the second 0123456789\n"
        )
        env = {k: v for k, v in PRODUCTION.items() if k != "AUDIT_KEY"}
        code = "from django.conf import settings; print(len(settings.AUDIT_KEYS), list(settings.AUDIT_KEYS)[0])"
        result = manage(
            "shell",
            "-c",
            code,
            AUDIT_KEY_FILE=str(tmp_path / "key"),
            AUDIT_KEYS_PREVIOUS_FILE=str(tmp_path / "previous"),
            **env,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1].split() == [
            "3",
            audit_key_id("", "the current audit key from a file 0123456789"),
        ]

    def test_development_without_a_key_warns_and_the_deploy_check_refuses_it(self):
        env = {k: v for k, v in PRODUCTION.items() if k != "AUDIT_KEY"}
        result = manage("check", "--deploy", **{**env, "DEBUG": "true"})
        assert "AUDIT_KEY is not set: the audit log is sealed with the public development key" in result.stderr
        assert "offboarding.E005" in result.stderr


@pytest.mark.django_db
class TestEventsFromBeforeTheKey:
    def seal_the_old_way(self) -> None:
        """What the chain looked like before migration 0015: plain SHA-256, no key id."""
        rewrite(1, None, blank_key_id=True)
        migration = importlib.import_module("offboarding.migrations.0020_audit_keys")
        migration.keyed_from_the_next_event(apps, None)

    def test_they_are_reported_honestly_and_the_keyed_ones_still_verify(self, approver, org):
        record_three(approver)
        self.seal_the_old_way()
        assert AuditChainHead.objects.get().keyed_from_seq == 4
        AuditEvent.record("case.opened", actor=Actor.system("test"))
        intact, message = check()
        assert intact, message
        assert "4 events verified; events before #4 were sealed without a key" in message
        assert "a change made to them before the key was introduced would not show" in message

    def test_a_change_to_them_after_the_key_began_is_named(self, approver, org):
        record_three(approver)
        self.seal_the_old_way()
        AuditEvent.record("case.opened", actor=Actor.system("test"))
        # Rewritten and re-sealed the old way up to #3: the first keyed event no longer follows.
        run_sql("UPDATE offboarding_auditevent SET actor_name = %s WHERE seq = 2", "mallory")
        second = AuditEvent.objects.get(seq=2)
        second.hash = seal(second, None)
        run_sql("UPDATE offboarding_auditevent SET hash = %s WHERE seq = 2", second.hash)
        third = AuditEvent.objects.get(seq=3)
        third.prev_hash = second.hash
        third.hash = seal(third, None)
        run_sql(
            "UPDATE offboarding_auditevent SET prev_hash = %s, hash = %s WHERE seq = 3", third.prev_hash, third.hash
        )
        intact, message = check()
        assert intact is False and message.startswith("event #4 does not follow #3")


@pytest.mark.django_db
class TestAnchors:
    def test_the_case_ticket_carries_the_seal_of_the_cases_last_event(self, filed_case, org):
        (ticket,) = [i for i in org.jira_issues() if i["key"] == filed_case.jira_key]
        (anchor,) = integrity.anchors_in("ticket", ticket["fields"]["description"])
        event = AuditEvent.objects.get(seq=anchor.seq)
        assert event.case_id == filed_case.pk and event.hash == anchor.hash
        # The last of the case's events when the ticket was filed: only the filing itself came after.
        later = AuditEvent.objects.filter(case=filed_case, seq__gt=anchor.seq).values_list("action", flat=True)
        assert set(later) <= {"jira.file_ticket.done", "jira.ticket_filed"}

    def test_a_comment_on_the_ticket_carries_the_anchor_too(self, filed_case, org):
        last = AuditEvent.objects.filter(case=filed_case).order_by("-seq").first()
        tickets.comment_on_ticket(filed_case, "Retried by alice.")
        (ticket,) = [i for i in org.jira_issues() if i["key"] == filed_case.jira_key]
        assert f"Retried by alice.\nAudit anchor: #{last.seq} {last.hash}" in texts_of(ticket)[-1]

    def test_the_periodic_anchor_is_a_comment_on_the_anchor_issue_and_a_log_line(self, org, approver, caplog):
        caplog.set_level(logging.INFO, logger="offboarding.audit.anchor")
        record_three(approver)
        call_command("anchor_audit_log")
        call_command("anchor_audit_log")
        (issue,) = [i for i in org.jira_issues() if integrity.anchor_label() in i["fields"]["labels"]]
        first, second = [adf.plain_text(c["body"]) for c in issue["comments"]]
        three = AuditEvent.objects.get(seq=3)
        assert first == f"Audit anchor: #3 {three.hash} of 3 events, keyed from #1"
        four = AuditEvent.objects.get(seq=4)  # the first anchor is itself an audit event
        assert four.action == "audit.anchored" and second.startswith(f"Audit anchor: #4 {four.hash} of 4 events")
        lines = [r.getMessage() for r in caplog.records if r.name == "offboarding.audit.anchor"]
        logged = json.loads(lines[0].removeprefix("audit.anchor "))
        assert logged["seq"] == 3 and logged["hash"] == three.hash and logged["where"].startswith(issue["key"])

    def test_a_configured_anchor_issue_is_used(self, org, approver, settings):
        issue = JiraClient.from_settings().create_issue("Audit anchors", adf.doc(adf.paragraph("Anchors.")), ["x"])
        settings.AUDIT_ANCHOR_ISSUE = issue.key
        record_three(approver)
        anchor = integrity.anchor_chain_head()
        assert anchor.where.startswith(f"{issue.key} comment ")
        assert len(org.jira_issues()) == 1

    def test_an_anchor_that_fails_is_audited_and_alerted(self, org, approver, settings, mailoutbox):
        settings.ALERT_EMAILS = ["security@acme.example"]
        record_three(approver)
        org.fault("jira", "outage")
        with pytest.raises(CommandError, match="NOT anchored"):
            call_command("anchor_audit_log")
        failed = AuditEvent.objects.get(action="audit.anchor_failed")
        assert failed.after["anchor"].startswith("Audit anchor: #3 ")
        (mail,) = mailoutbox
        assert mail.subject == "[Offboarding] The audit log could not be anchored in Jira"

    def test_a_check_that_cannot_read_the_anchors_does_not_vouch_for_the_chain(
        self, filed_case, org, settings, mailoutbox
    ):
        settings.ALERT_EMAILS = ["security@acme.example"]
        org.fault("jira", "outage")
        with pytest.raises(CommandError, match="Audit log NOT checked: the anchors could not be read from Jira"):
            call_command("verify_audit_log")
        result = AuditEvent.objects.get(action="audit.verification_incomplete")
        assert result.after["intact"] is None and "anchors_error" in result.after
        (mail,) = mailoutbox
        assert mail.subject == "[Offboarding] The audit log could not be checked"
