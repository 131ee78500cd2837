"""The revocation job against the sandbox: groups, sessions, deactivation, verification, the ticket."""

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from offboarding import decisions, reconcile, restore, revocation, steps, sync, tickets
from offboarding.clients.jira import JiraClient
from offboarding.clients.okta import OktaClient
from offboarding.models import AuditEvent, Case, ReconciliationRun, Step
from tests.wrapped_clients import Crash, Wrapped, before, die_after, die_before


def okta_calls(sandbox) -> Counter:
    return Counter(f"{r['method']} {r['path']}" for r in sandbox.requests("okta"))


def only_case() -> Case:
    return Case.objects.get()


def ticket_text(sandbox) -> str:
    (issue,) = sandbox.jira_issues()
    return str(issue["fields"]["description"])


# What each Okta request of a revocation is, by its method and path.
OKTA_ACTIONS = [
    ("GET", re.compile(r"/okta/api/v1/users/[^/]+"), "read the user"),
    ("GET", re.compile(r"/okta/api/v1/users/[^/]+/groups"), "read the groups"),
    ("GET", re.compile(r"/okta/api/v1/users/[^/]+/roles"), "read the admin roles"),
    ("DELETE", re.compile(r"/okta/api/v1/groups/[^/]+/users/[^/]+"), "remove a membership"),
    ("DELETE", re.compile(r"/okta/api/v1/users/[^/]+/sessions"), "clear sessions and tokens"),
    ("POST", re.compile(r"/okta/api/v1/users/[^/]+/lifecycle/deactivate"), "deactivate"),
]


def okta_actions_in_order(sandbox) -> list[str]:
    """The revocation's Okta requests as actions, in the order they were answered, repeats run together."""
    actions: list[str] = []
    for r in sandbox.requests("okta"):
        path = "/okta" + r["path"] if not r["path"].startswith("/okta") else r["path"]
        action = next(
            (a for method, pattern, a in OKTA_ACTIONS if method == r["method"] and pattern.fullmatch(path)), ""
        )
        assert action, f"unexpected request {r['method']} {r['path']}"
        if not actions or actions[-1] != action:
            actions.append(action)
    return actions


class TestStepOrder:
    def test_the_okta_steps_go_in_the_designed_order_and_the_hammer_drops_last(self, org, approved_case):
        case = approved_case()
        org.clear_requests()
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        assert okta_actions_in_order(org) == [
            "read the user",  # the token's owner (users/me), then the leaver
            "read the admin roles",
            "read the groups",
            "remove a membership",
            "clear sessions and tokens",
            "deactivate",
            "read the user",  # the read-back
            "read the groups",
        ]
        kinds = [
            s.kind
            for s in Step.objects.filter(case=case).exclude(status=Step.Status.SKIPPED).order_by("finished_at", "id")
        ]
        assert list(dict.fromkeys(kinds)) == [*STEP_KINDS]

    def test_the_ticket_is_filed_only_after_the_result_is_read_back(self, org, approved_case):
        case = approved_case()
        org.clear_requests()
        revocation.run_case(case.pk)
        verify = Step.objects.get(case=case, kind=Step.Kind.VERIFY)
        ticket = Step.objects.get(case=case, kind=Step.Kind.FILE_TICKET, target="issue")
        assert verify.finished_at <= ticket.started_at
        assert org.requests("jira")[0]["time"] >= org.requests("okta")[-1]["time"]


class TestNormalCase:
    def test_it_revokes_everything_and_files_one_ticket(self, org, approved_case):
        case = approved_case()
        org.clear_requests()
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        case = only_case()
        state = org.okta_user(case.okta_user_id)
        assert state["status"] == "DEPROVISIONED"
        assert [g["type"] for g in state["groups"] if g["type"] == "OKTA_GROUP"] == []
        assert {g["type"] for g in state["groups"]} == {"BUILT_IN", "APP_GROUP"}
        assert state["sessions_revoked"] and state["oauth_tokens_revoked"]
        issues = org.jira_issues()
        assert [i["key"] for i in issues] == [case.jira_key]
        assert case.ticket == Case.Ticket.FILED
        assert case.revoked_at is not None and case.time_to_revoke is not None

    def test_each_okta_call_is_made_once(self, org, approved_case):
        case = approved_case()
        org.clear_requests()
        revocation.run_case(case.pk)
        uid = case.okta_user_id
        removed = [s.target for s in Step.objects.filter(kind=Step.Kind.REMOVE_GROUP, status=Step.Status.DONE)]
        calls = okta_calls(org)
        assert len(removed) == 2
        for gid in removed:
            assert calls[f"DELETE /api/v1/groups/{gid}/users/{uid}"] == 1
        assert calls[f"DELETE /api/v1/users/{uid}/sessions"] == 1
        assert calls[f"POST /api/v1/users/{uid}/lifecycle/deactivate"] == 1
        # One listing before, one read-back after.
        assert calls[f"GET /api/v1/users/{uid}/groups"] == 2
        # One read of the user before, one read-back after.
        assert calls[f"GET /api/v1/users/{uid}"] == 2
        # Before any change: whose token this is, and the leaver's admin roles.
        assert calls["GET /api/v1/users/me"] == 1 and calls[f"GET /api/v1/users/{uid}/roles"] == 1
        # removals, sessions, deactivate, listings, user reads, token owner, roles
        assert sum(calls.values()) == 2 + 1 + 1 + 2 + 2 + 1 + 1

    def test_non_removable_groups_are_recorded_and_app_groups_go_on_the_ticket(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        skipped = {s.target_name: s.detail for s in Step.objects.filter(status=Step.Status.SKIPPED)}
        assert skipped["Everyone"]["type"] == "BUILT_IN"
        assert skipped["AD: Engineering E100"]["manual_follow_up"] is True
        text = ticket_text(org)
        assert "Manual follow-up" in text
        assert "AD: Engineering E100" in text

    def test_the_ticket_holds_the_evidence(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        case = only_case()
        (issue,) = org.jira_issues()
        text = str(issue["fields"]["description"])
        for expected in ["Zoë Müller", "E100", "alice", "VPN Users E100", "GitHub Engineers E100", "DEPROVISIONED"]:
            assert expected in text
        assert f"/cases/{case.pk}/" in text
        assert case.label in issue["fields"]["labels"]
        assert [a["filename"] for a in issue["attachments"]] == [f"offboarding-case-{case.pk}-evidence.json"]

    def test_groups_added_since_review_are_removed_too_and_noted(self, org, approved_case):
        case = approved_case()
        late = org.add_okta_group("Added Later")
        org.add_okta_membership(late["id"], case.okta_user_id)
        revocation.run_case(case.pk)
        snapshot = Step.objects.get(kind=Step.Kind.SNAPSHOT).detail
        assert [g["name"] for g in snapshot["added_since_review"]] == ["Added Later"]
        assert Step.objects.get(target=late["id"]).status == Step.Status.DONE

    def test_every_call_is_an_audit_event_and_the_chain_verifies(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
        assert actions.count("okta.remove_group.done") == 2
        for action in ["okta.clear_sessions.done", "okta.deactivate.done", "okta.verify.done", "jira.ticket_filed"]:
            assert action in actions
        assert AuditEvent.verify_chain()[0]

    def test_a_second_delivery_finds_nothing_to_do(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        org.clear_requests()
        assert revocation.run_case(case.pk) == "nothing to do"
        assert org.requests() == []

    def test_a_case_not_yet_due_is_not_run(self, org, leaver, approver):
        leaver(days_ahead=5)
        sync.sync_workday()
        case = decisions.approve(Case.objects.get().pk, approver)
        assert revocation.run_case(case.pk) == "nothing to do"
        assert only_case().state == Case.State.SCHEDULED


STEP_KINDS = ["resolve", "snapshot", "remove_group", "clear_sessions", "deactivate", "verify", "file_ticket"]


def overlapping(requests: list[dict]) -> int:
    """The most requests Okta was answering at once as one of these arrived (the sandbox counts them)."""
    return max(r["in_flight"] for r in requests)


class TestManyGroups:
    GROUPS = tuple(f"Team {n}" for n in range(12))

    def test_the_removals_of_one_case_go_several_at_a_time(self, org, approved_case, settings):
        settings.REVOCATION_PARALLEL_CALLS = 4
        case = approved_case(groups=self.GROUPS)
        org.fault("okta", "latency", "DELETE /api/v1/groups/*/users/*", seconds=0.3)
        org.clear_requests()
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        removals = [r for r in org.requests("okta") if r["method"] == "DELETE" and "/groups/" in r["path"]]
        assert len(removals) == 12
        assert overlapping(removals) == 4

    def test_each_removal_is_still_its_own_step_and_audit_event_in_the_chain(self, org, approved_case, settings):
        settings.REVOCATION_PARALLEL_CALLS = 5
        case = approved_case(groups=self.GROUPS)
        revocation.run_case(case.pk)
        removed = Step.objects.filter(case=case, kind=Step.Kind.REMOVE_GROUP, status=Step.Status.DONE)
        events = AuditEvent.objects.filter(case=case, action="okta.remove_group.done")
        assert removed.count() == events.count() == 12
        assert sorted(e.after["target"] for e in events) == sorted(s.target for s in removed)
        seqs = list(AuditEvent.objects.values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
        assert AuditEvent.verify_chain()[0]

    def test_a_batch_of_removals_is_one_append_to_the_audit_chain_however_many_groups(
        self, org, approved_case, settings
    ):
        settings.REVOCATION_PARALLEL_CALLS = 12
        okta = OktaClient.from_settings()

        def chain_appends_to_remove(case: Case) -> tuple[int, int]:
            groups = [g for g in okta.list_user_groups(case.okta_user_id) if g.type == "OKTA_GROUP"]
            work = [
                (g.id, g.name, lambda gid=g.id: okta.remove_from_group(gid, case.okta_user_id) or {}) for g in groups
            ]
            with CaptureQueriesContext(connection) as queries:
                done = steps.perform_many(case, None, Step.Kind.REMOVE_GROUP, work)
            assert [s.status for s in done] == [Step.Status.DONE] * len(groups)
            sql = [q["sql"] for q in queries.captured_queries]
            # The chain's head is the one row every worker waits for: locked once, events inserted at once.
            head_locks = [q for q in sql if "offboarding_auditchainhead" in q and q.startswith("SELECT")]
            event_inserts = [q for q in sql if 'INSERT INTO "offboarding_auditevent"' in q]
            return len(head_locks), len(event_inserts)

        assert chain_appends_to_remove(approved_case(employee_id="E1", first="Ann", groups=self.GROUPS[:2])) == (1, 1)
        assert chain_appends_to_remove(approved_case(employee_id="E2", first="Ben", groups=self.GROUPS)) == (1, 1)
        assert AuditEvent.objects.filter(action="okta.remove_group.done").count() == 14

    def test_a_restore_gives_back_every_group_several_at_a_time(self, org, approved_case, make_user, settings):
        settings.REVOCATION_PARALLEL_CALLS = 4
        case = approved_case(groups=self.GROUPS)
        revocation.run_case(case.pk)
        decisions.request_restore(case.pk, make_user("ann", "approvers"), "rescinded")
        decisions.approve_restore(case.pk, make_user("ben", "approvers"))
        org.fault("okta", "latency", "PUT /api/v1/groups/*/users/*", seconds=0.3)
        org.clear_requests()
        assert restore.restore_case(case.pk) == "restored"
        added = [r for r in org.requests("okta") if r["method"] == "PUT" and "/groups/" in r["path"]]
        assert len(added) == 12 and overlapping(added) == 4
        user = org.okta_user(case.okta_user_id)
        assert len([g for g in user["groups"] if g["type"] == "OKTA_GROUP"]) == 12


# Where a worker dies "after" each step: just before the next step's first call.
DIES_BEFORE = {
    "resolve": ("okta", "list_user_groups", 1),
    "snapshot": ("okta", "remove_from_group", 1),
    "remove_group": ("okta", "clear_sessions", 1),
    "clear_sessions": ("okta", "deactivate", 1),
    "deactivate": ("okta", "get_user", 2),  # the read-back
    "verify": ("jira", "find_issues_by_label", 1),
    "file_ticket": ("jira", "attach_file", 1),
}


def dying_clients(service: str, method: str, around) -> dict:
    okta, jira = OktaClient.from_settings(), JiraClient.from_settings()
    if service == "okta":
        return {"okta": Wrapped(okta, **{method: around}), "jira": jira}
    return {"okta": okta, "jira": Wrapped(jira, **{method: around})}


class TestResume:
    @pytest.mark.parametrize("crash_after", STEP_KINDS)
    def test_a_crash_after_any_step_resumes_without_repeating_a_call(self, org, approved_case, crash_after):
        case = approved_case()
        org.clear_requests()
        service, method, nth = DIES_BEFORE[crash_after]
        with pytest.raises(Crash):
            revocation.run_case(case.pk, **dying_clients(service, method, die_before(nth)))

        # The lease of the dead worker runs out; the next run resumes.
        Case.objects.filter(pk=case.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
        revocation.run_case(case.pk)
        tickets.retry_pending_tickets()

        case = only_case()
        assert case.state == Case.State.COMPLETED
        assert case.ticket == Case.Ticket.FILED
        assert len(org.jira_issues()) == 1
        mutations = {k: n for k, n in okta_calls(org).items() if not k.startswith("GET")}
        assert all(n == 1 for n in mutations.values()), mutations
        assert len(mutations) == 4

    def test_a_crash_between_creating_the_ticket_and_saving_it_files_no_second_one(self, org, approved_case):
        case = approved_case()
        with pytest.raises(Crash):
            revocation.run_case(case.pk, **dying_clients("jira", "create_issue", die_after(1)))
        assert only_case().jira_key == ""
        Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
        assert tickets.retry_pending_tickets() == [case.pk]
        assert len(org.jira_issues()) == 1
        assert only_case().jira_key == org.jira_issues()[0]["key"]

    def test_a_deactivation_whose_answer_was_lost_is_read_back_as_done(self, org, approved_case):
        case = approved_case()
        with pytest.raises(Crash):
            revocation.run_case(case.pk, **dying_clients("okta", "deactivate", die_after(1)))
        Case.objects.filter(pk=case.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        step = Step.objects.get(kind=Step.Kind.DEACTIVATE)
        assert "E0000007" in step.detail["answer"]  # Okta's 404 for an already deprovisioned user
        assert Step.objects.get(kind=Step.Kind.VERIFY).status == Step.Status.DONE

    def test_another_worker_holding_the_lease_is_left_alone(self, org, approved_case):
        case = approved_case()
        assert revocation.claim(case.pk, "worker-a")
        assert not revocation.claim(case.pk, "worker-b")
        assert revocation.run_case(case.pk) == "nothing to do"


class TestFailurePolicy:
    def test_a_membership_that_cannot_be_removed_does_not_stop_deactivation(
        self, org, approved_case, mailoutbox, settings
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        case = approved_case()
        stuck = org.okta_user(case.okta_user_id)["groups"]
        stuck = next(g for g in stuck if g["name"] == "VPN Users E100")
        org.fault("okta", "error", f"DELETE /api/v1/groups/{stuck['id']}/users/*", status=500)
        assert revocation.run_case(case.pk) == Case.State.FAILED
        case = only_case()
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"
        assert "Still a member of “VPN Users E100”" in case.failure_summary
        failed = Step.objects.get(target=stuck["id"])
        # Attempts are HTTP tries: the transport tried three times (the tests' policy) before giving up.
        assert failed.status == Step.Status.FAILED and failed.http_status == 500 and failed.attempts == 3
        assert "NOT everything was done" in ticket_text(org)
        assert "VPN Users E100" in ticket_text(org)
        assert any("FAILED" in m.subject for m in mailoutbox)

    def test_a_failed_deactivation_fails_the_case_and_says_so(self, org, approved_case, mailoutbox, settings):
        settings.ALERT_EMAILS = ["security@example.com"]
        case = approved_case()
        org.fault("okta", "error", "POST /api/v1/users/*/lifecycle/deactivate", status=503)
        assert revocation.run_case(case.pk) == Case.State.FAILED
        case = only_case()
        assert org.okta_user(case.okta_user_id)["status"] == "ACTIVE"
        assert "The Okta user is NOT deactivated" in case.failure_summary
        assert case.revoked_at is None
        assert "NOT deactivated" in ticket_text(org)
        assert Step.objects.get(kind="verify").status == Step.Status.FAILED
        assert mailoutbox

    def test_a_failed_verification_fails_the_case(self, org, approved_case):
        case = approved_case()
        group = org.okta_user(case.okta_user_id)["groups"]
        vpn = next(g for g in group if g["name"] == "VPN Users E100")
        # A group push re-adds a membership between its removal and the read-back.
        okta = Wrapped(
            OktaClient.from_settings(),
            deactivate=before(1, lambda: org.add_okta_membership(vpn["id"], case.okta_user_id)),
        )
        assert revocation.run_case(case.pk, okta=okta) == Case.State.FAILED
        case = only_case()
        assert "Verification failed: OKTA_GROUP memberships left: VPN Users E100" in case.failure_summary
        assert "NOT verified" in ticket_text(org)

    def test_a_failed_case_is_retried_and_finishes_with_a_comment(self, org, approved_case, approver):
        case = approved_case()
        fault = org.fault("okta", "error", "POST /api/v1/users/*/lifecycle/deactivate", status=503)
        revocation.run_case(case.pk)
        org.clear_faults()
        org.clear_requests()
        call_command("retry_case", str(case.pk))
        case = only_case()
        assert case.state == Case.State.COMPLETED
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"
        calls = okta_calls(org)
        assert not any(k.startswith("DELETE /api/v1/groups") for k in calls)  # removals were done; not repeated
        (issue,) = org.jira_issues()
        assert len(issue["comments"]) == 1
        assert fault["id"]


class TestJiraDown:
    def test_the_revocation_stands_and_the_ticket_is_filed_once_when_jira_is_back(self, org, approved_case):
        case = approved_case()
        org.fault("jira", "outage")
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        case = only_case()
        assert case.ticket == Case.Ticket.PENDING
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"
        assert tickets.retry_pending_tickets() == []  # still down, nothing filed, nothing lost
        org.clear_faults()
        Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
        org.clear_requests()
        call_command("retry_tickets")
        assert only_case().ticket == Case.Ticket.FILED
        assert len(org.jira_issues()) == 1
        assert okta_calls(org) == Counter()  # revocation is not re-run to file a ticket


class TestRestore:
    def test_two_people_restore_the_groups_and_reactivate(self, org, approved_case, make_user):
        case = approved_case()
        revocation.run_case(case.pk)
        ann, ben = make_user("ann", "approvers"), make_user("ben", "approvers")
        decisions.request_restore(case.pk, ann, "rescinded: stays with us")
        with pytest.raises(decisions.DecisionError, match="different approver"):
            decisions.approve_restore(case.pk, ann)
        decisions.approve_restore(case.pk, ben)
        assert restore.restore_case(case.pk) == "restored"
        state = org.okta_user(case.okta_user_id)
        # Activated again; without a password credential Okta leaves the person to finish activation.
        assert state["status"] in ("ACTIVE", "PROVISIONED")
        assert Step.objects.get(kind=Step.Kind.REACTIVATE).detail["user"]["status"] == state["status"]
        assert {"VPN Users E100", "GitHub Engineers E100"} <= {g["name"] for g in state["groups"]}
        case = only_case()
        assert case.restored_at is not None
        assert "Access restored" in str(org.jira_issues()[0]["comments"])
        assert restore.restore_case(case.pk) == "nothing to do"
        assert AuditEvent.objects.filter(action="case.restored").count() == 1


class TestEmergencyOffboard:
    def test_it_needs_a_second_approver_and_then_runs_at_once(self, org, make_user, django_capture_on_commit_callbacks):
        ann, ben = make_user("ann", "approvers"), make_user("ben", "approvers")
        user = org.add_okta_user("E900", "Eve", "Intruder", groups=[org.add_okta_group("Prod Admins")["id"]])
        case = decisions.start_emergency(user["id"], ann, "credentials leaked")
        assert case.state == Case.State.PENDING_REVIEW
        with pytest.raises(decisions.DecisionError, match="You requested this offboard"):
            decisions.approve(case.pk, ann)
        with django_capture_on_commit_callbacks() as callbacks:
            case = decisions.approve(case.pk, ben)
        assert case.state == Case.State.APPROVED
        assert len(callbacks) == 1
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        assert org.okta_user(user["id"])["status"] == "DEPROVISIONED"
        assert "Emergency offboard requested by ann" in ticket_text(org)


class TestReconciliation:
    def test_someone_who_can_still_sign_in_is_found(self, org, approved_case, leaver, mailoutbox, settings):
        settings.ALERT_EMAILS = ["security@example.com"]
        case = approved_case()
        revocation.run_case(case.pk)
        OktaClient.from_settings().reactivate(case.okta_user_id)  # someone turned them back on in Okta
        leaver("E200", "Ada", "Lovelace", days_ahead=-2)  # past due, never approved
        sync.sync_workday()
        call_command("reconcile")
        run = ReconciliationRun.objects.get()
        assert sorted(f["employee_id"] for f in run.findings) == ["E100", "E200"]
        assert Case.objects.get(pk=case.pk).state == Case.State.NEEDS_ATTENTION
        assert "can still sign in" in Case.objects.get(pk=case.pk).attention_reason
        assert any("Reconciliation" in m.subject for m in mailoutbox)

    def test_a_clean_org_has_no_findings(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        assert reconcile.reconcile().findings == []


class TestRunDue:
    def test_it_runs_every_due_case_in_the_foreground(self, org, approved_case, capsys):
        case = approved_case()
        call_command("run_due")
        assert f"case {case.pk}: completed" in capsys.readouterr().out
        assert only_case().state == Case.State.COMPLETED
