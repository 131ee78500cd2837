"""A case whose Okta user is in doubt: an approver chooses among the candidates Okta shows, or records that there
is no Okta account, through the pages against the sandbox."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, reconcile, sla, sync, tickets
from offboarding.models import AuditEvent, Case, ProtectedAccount

SECOND_LOGIN = "zoe.mueller2@acme.example"


@pytest.fixture
def two_users(org, leaver):
    """A leaver whose employee number two Okta users carry: the case needs a person to choose."""
    person = leaver()
    org.add_okta_user("E100", "Zoë", "Müller", login=SECOND_LOGIN, email=SECOND_LOGIN, status="PROVISIONED")
    sync.sync_workday()
    case = Case.objects.get()
    assert case.identity == Case.Identity.MULTIPLE and not case.okta_user_id
    return {"case": case, "first": person["user"], "first_login": person["user"]["profile"]["login"]}


@pytest.fixture
def nobody(leaver):
    """A leaver Okta does not know."""
    leaver(in_okta=False)
    sync.sync_workday()
    return Case.objects.get()


def identity_page(client, case: Case) -> str:
    response = client.get(reverse("case_identity", args=[case.pk]))
    assert response.status_code == 200
    return response.content.decode()


def choose(client, case: Case, okta_user_id: str, reason: str = "Same laptop serial in the CMDB"):
    return client.post(
        reverse("case_identity", args=[case.pk]), {"okta_user_id": okta_user_id, "reason": reason}, follow=True
    )


def close_as_no_account(client, case: Case, reason: str = "Contractor who never had an account"):
    url = reverse("case_no_account", args=[case.pk])
    step = client.post(url, {"reason": reason})
    assert step.status_code == 200 and "confirmed" in step.content.decode()
    return client.post(url, {"reason": reason, "confirmed": "yes"}, follow=True)


def user_id_of(org, login: str) -> str:
    return org.okta_user(login)["user"]["id"]


def nothing_changed(case: Case) -> bool:
    now = Case.objects.get(pk=case.pk)
    chosen = AuditEvent.objects.filter(action__in=["case.identity_chosen", "case.closed_no_account"]).exists()
    return (now.state, now.identity, now.okta_user_id, now.identity_proposal) == (
        case.state,
        case.identity,
        case.okta_user_id,
        {},
    ) and not chosen


class TestChooseTheOktaUser:
    def test_the_case_page_leads_to_the_candidates_each_read_live(self, client, org, approver, two_users):
        case = two_users["case"]
        client.force_login(approver)
        assert reverse("case_identity", args=[case.pk]) in client.get(case.get_absolute_url()).content.decode()
        body = identity_page(client, case)
        assert "2 Okta users who may be this person" in body
        for text in [two_users["first_login"], SECOND_LOGIN, "ACTIVE", "PROVISIONED", "E100", "VPN Users E100"]:
            assert text in body
        assert "employee number" in body

    def test_choosing_one_computes_the_plan_and_leaves_the_case_to_approve(self, client, org, approver, two_users):
        case = two_users["case"]
        client.force_login(approver)
        response = choose(client, case, two_users["first"]["id"])
        assert "is now this case’s Okta user" in response.content.decode()
        case.refresh_from_db()
        assert case.identity == Case.Identity.CHOSEN and case.okta_user_id == two_users["first"]["id"]
        assert case.state == Case.State.PENDING_REVIEW and case.is_decidable
        assert {g["name"] for g in case.plan["remove"]} == {"VPN Users E100", "GitHub Engineers E100"}
        assert "Same laptop serial in the CMDB" in case.identity_note
        event = AuditEvent.objects.get(action="case.identity_chosen")
        assert event.actor == approver and {c["login"] for c in event.after["candidates"]} == {
            two_users["first_login"],
            SECOND_LOGIN,
        }
        assert decisions.approve(case.pk, approver).state == Case.State.SCHEDULED

    def test_a_reason_is_required(self, client, approver, two_users):
        case = two_users["case"]
        client.force_login(approver)
        response = choose(client, case, two_users["first"]["id"], reason="  ")
        assert "A reason is required to choose the Okta user." in response.content.decode()
        assert nothing_changed(case)

    def test_a_protected_candidate_takes_two_approvers(self, client, org, approver, second_approver, two_users):
        ProtectedAccount.objects.create(kind="login", value=SECOND_LOGIN, note="board member")
        case = two_users["case"]
        second = user_id_of(org, SECOND_LOGIN)
        client.force_login(approver)
        assert "two distinct approvers must choose it" in identity_page(client, case)
        response = choose(client, case, second)
        assert "a second, different approver must make it too" in response.content.decode()
        case.refresh_from_db()
        assert case.identity == Case.Identity.MULTIPLE and case.identity_proposal["by"] == "alice"
        assert "You have already proposed this" in choose(client, case, second).content.decode()
        client.force_login(second_approver)
        assert "Waiting for a second approver" in identity_page(client, case)
        choose(client, case, second, reason="HR confirmed it is her second account")
        case.refresh_from_db()
        assert case.identity == Case.Identity.CHOSEN and case.okta_login == SECOND_LOGIN
        assert case.protected_reason and case.state == Case.State.NEEDS_ATTENTION
        assert "alice" in case.identity_note and "erin" in case.identity_note
        assert decisions.approve(case.pk, approver).state == Case.State.NEEDS_ATTENTION  # and two to approve


class TestNoOktaAccount:
    def test_it_closes_the_case_and_the_ticket_says_so(
        self, client, org, approver, nobody, django_capture_on_commit_callbacks
    ):
        client.force_login(approver)
        assert "Okta has no user with employee number E100" in identity_page(client, nobody)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = close_as_no_account(client, nobody)
        assert "Closed: no Okta account, nothing to revoke." in response.content.decode()
        case = Case.objects.get()
        assert case.state == Case.State.NO_ACCOUNT and case.finished_at and case.decided_by == approver
        assert case.plan["nothing_to_revoke"] and not case.is_decidable
        assert len(callbacks) == 1  # the ticket is handed to a worker as the decision commits
        assert org.requests("okta") and all(r["method"] == "GET" for r in org.requests("okta"))

        assert tickets.file_ticket_of_case(case.pk) == Case.Ticket.FILED
        (issue,) = org.jira_issues()
        assert "closed: no Okta account, nothing to revoke" in issue["fields"]["summary"]
        text = str(issue["fields"]["description"])
        assert "Contractor who never had an account" in text and "alice" in text
        body = client.get(case.get_absolute_url()).content.decode()
        assert "Closed: no Okta account" in body and case.jira_key in body
        assert AuditEvent.objects.get(action="case.closed_no_account").after["reason"] == (
            "Contractor who never had an account"
        )

    def test_auditors_find_it_as_closed_not_as_a_revocation(self, client, approver, auditor, nobody):
        client.force_login(approver)
        close_as_no_account(client, nobody)
        client.force_login(auditor)
        found = client.get(reverse("history"), {"state": Case.State.NO_ACCOUNT}).content.decode()
        assert "Zoë Müller" in found
        assert "Zoë Müller" not in client.get(reverse("history"), {"state": Case.State.COMPLETED}).content.decode()
        evidence = client.get(reverse("evidence", args=[nobody.pk])).content.decode()
        assert "Closed: no Okta account" in evidence

    def test_a_protected_candidate_takes_two_approvers(self, client, org, approver, second_approver, two_users):
        ProtectedAccount.objects.create(kind="group", value="VPN Users E100")
        case = two_users["case"]
        client.force_login(approver)
        response = close_as_no_account(client, case)
        assert "a second, different approver must agree" in response.content.decode()
        assert Case.objects.get().state == Case.State.NEEDS_ATTENTION
        response = close_as_no_account(client, case)
        assert "You have already proposed this" in response.content.decode()
        client.force_login(second_approver)
        close_as_no_account(client, case, reason="Both accounts belong to namesakes")
        case.refresh_from_db()
        assert case.state == Case.State.NO_ACCOUNT
        assert {u["login"] for u in case.plan["ruled_out"]} == {two_users["first_login"], SECOND_LOGIN}

    def test_the_users_ruled_out_are_not_findings_but_a_new_account_is(self, client, org, approver, two_users):
        case = two_users["case"]
        Case.objects.filter(pk=case.pk).update(effective_at=timezone.now() - timedelta(days=1))  # past due
        client.force_login(approver)
        close_as_no_account(client, case)
        yesterday = timezone.localdate() - timedelta(days=1)
        assert sla.report(yesterday, yesterday, 4)["overdue_count"] == 0  # nothing was to be revoked, so none late
        assert reconcile.reconcile().checked == 1
        assert reconcile.reconcile().findings == []
        assert Case.objects.get().state == Case.State.NO_ACCOUNT
        org.add_okta_user("E100", "Zoë", "Müller", login="zoe.third@acme.example")
        (finding,) = reconcile.reconcile().findings
        assert finding["login"] == "zoe.third@acme.example"
        assert Case.objects.get().state == Case.State.NEEDS_ATTENTION


class TestRefusals:
    @pytest.mark.parametrize("who", ["auditor", "admin_user", "no_role_user"])
    def test_only_approvers_see_the_candidates_or_decide(self, client, request, two_users, who):
        case = two_users["case"]
        client.force_login(request.getfixturevalue(who))
        assert client.get(reverse("case_identity", args=[case.pk])).status_code == 403
        post = {"okta_user_id": two_users["first"]["id"], "reason": "x", "confirmed": "yes"}
        assert client.post(reverse("case_identity", args=[case.pk]), post).status_code == 403
        assert client.post(reverse("case_no_account", args=[case.pk]), post).status_code == 403
        assert nothing_changed(case)

    def test_an_okta_user_not_among_the_candidates_is_refused(self, client, org, approver, two_users):
        stranger = org.add_okta_user("E999", "Someone", "Else", login="someone.else@acme.example")
        case = two_users["case"]
        client.force_login(approver)
        response = choose(client, case, stranger["id"])
        assert "not among the candidates looked up for this case" in response.content.decode()
        assert nothing_changed(case)
        assert "Choose one of the Okta users listed." in choose(client, case, "").content.decode()

    def test_a_decided_case_cannot_change_its_okta_user(self, client, org, approver, two_users):
        case = decisions.reject(two_users["case"].pk, approver, "rehired")
        client.force_login(approver)
        body = identity_page(client, case)
        assert "This case is rejected; its Okta user can no longer be changed." in body
        assert 'name="okta_user_id"' not in body
        response = choose(client, case, two_users["first"]["id"])
        assert "its Okta user can no longer be changed" in response.content.decode()
        response = client.post(
            reverse("case_no_account", args=[case.pk]), {"reason": "x", "confirmed": "yes"}, follow=True
        )
        assert "its Okta user can no longer be changed" in response.content.decode()
        assert nothing_changed(case)

    def test_an_exact_match_or_an_emergency_has_nothing_to_choose(self, client, org, approver, make_user, leaver):
        leaver()
        sync.sync_workday()
        exact = Case.objects.get()
        user = org.add_okta_user("E900", "Eve", "Intruder")
        emergency = decisions.start_emergency(user["id"], make_user("root", "approvers"), "credentials leaked")
        client.force_login(approver)
        assert "there is nothing to choose" in identity_page(client, exact)
        assert "An emergency offboard names its Okta user" in identity_page(client, emergency)
        assert "there is nothing to choose" in choose(client, exact, exact.okta_user_id).content.decode()

    def test_once_someone_approved_revoking_a_user_the_choice_is_closed(self, client, org, approver, leaver):
        ProtectedAccount.objects.create(kind="group", value="VPN Users E100")
        leaver(in_okta=False)
        org.add_okta_user("E100", "Zack", "Miller", login="zack@acme.example")
        sync.sync_workday()
        case = Case.objects.get()
        assert case.identity == Case.Identity.NAME_MISMATCH
        # Not protected: zack holds none of the leaver's groups; but one approval on a protected case stays open.
        Case.objects.filter(pk=case.pk).update(protected_reason="protected account (Okta login: zack@acme.example)")
        decisions.approve(case.pk, approver)
        client.force_login(approver)
        body = identity_page(client, case)
        assert "alice already approved revoking zack@acme.example" in body

    def test_a_reason_that_cannot_be_stored_is_refused_not_a_500(self, client, approver, two_users):
        case = two_users["case"]
        client.force_login(approver)
        response = choose(client, case, two_users["first"]["id"], reason="it is her\x00")
        assert "cannot be stored" in response.content.decode()
        response = client.post(
            reverse("case_no_account", args=[case.pk]), {"reason": "none\x00", "confirmed": "yes"}, follow=True
        )
        assert response.status_code == 200 and "cannot be stored" in response.content.decode()
        assert nothing_changed(case)

    def test_when_okta_does_not_answer_it_says_so_and_changes_nothing(self, client, org, approver, two_users):
        case = two_users["case"]
        client.force_login(approver)
        org.fault("okta", "outage")
        assert "Okta could not be reached" in identity_page(client, case)
        assert "Okta could not be reached" in choose(client, case, two_users["first"]["id"]).content.decode()
        assert nothing_changed(case)

    def test_a_made_up_case_is_not_found(self, client, approver, db):
        client.force_login(approver)
        assert client.get(reverse("case_identity", args=[987654])).status_code == 404
        assert client.post(reverse("case_no_account", args=[987654]), {"reason": "x"}).status_code == 404
