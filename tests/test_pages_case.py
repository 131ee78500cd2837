"""A case page against the sandbox: live Okta groups, the plan, warnings, decisions, progress and the result."""

from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from offboarding import decisions, identity, revocation, sync
from offboarding.models import Approval, AuditEvent, Case, ProtectedAccount, Step
from tests.factories import make_case


def page(client, case: Case) -> str:
    response = client.get(case.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def confirm(client, action: str, case: Case, **data):
    """The confirmation step, then the decision itself."""
    url = reverse(action, args=[case.pk])
    step = client.post(url, data)
    assert step.status_code == 200 and "confirmed" in step.content.decode()
    return client.post(url, {**data, "confirmed": "yes"}, follow=True)


class TestCasePage:
    def test_it_shows_the_workday_record_the_live_okta_groups_and_the_plan(self, client, approver, synced_case):
        case = synced_case()
        client.force_login(approver)
        body = page(client, case)
        for text in ["Zoë Müller", "E100", "Engineering", "Sofia Quinn", "Voluntary", "America/New_York"]:
            assert text in body
        assert "Okta user (live)" in body
        for group in ["VPN Users E100", "GitHub Engineers E100", "AD: Engineering E100", "Everyone"]:
            assert group in body
        assert "App group: its membership is imported" in body
        assert "Remove 2 group memberships" in body
        assert "Deactivate the Okta user" in body

    def test_a_group_added_in_okta_since_review_is_marked(self, client, org, approver, synced_case):
        case = synced_case()
        late = org.add_okta_group("Added Later")
        org.add_okta_membership(late["id"], case.okta_user_id)
        client.force_login(approver)
        assert 'Added Later <span class="tag">added since review</span>' in page(client, case)

    def test_when_okta_is_down_it_says_so_and_shows_the_stored_plan(self, client, org, approver, synced_case):
        case = synced_case()
        org.fault("okta", "outage")
        client.force_login(approver)
        body = page(client, case)
        assert "Okta could not be reached" in body
        assert "VPN Users E100" in body  # from the stored plan

    def test_identity_doubts_are_explained_in_plain_words(self, client, org, approver, synced_case):
        case = synced_case(first="Zoë", last="Müller")
        org.correct_termination("E100", Worker="Someone Else", First_Name="Someone", Last_Name="Else")
        sync.sync_workday()
        identity.assess_case(case.pk)
        client.force_login(approver)
        body = page(client, Case.objects.get(pk=case.pk))
        assert "Employee number matches but the name disagrees" in body
        assert "is named" in body

    def test_workday_and_okta_text_is_shown_as_text(self, client, org, approver, leaver):
        leaver(first="<script>alert(1)</script>", last="<img src=x onerror=alert(2)>")
        org.add_okta_group("<b>bold</b>")
        sync.sync_workday()
        case = Case.objects.get()
        client.force_login(approver)
        body = page(client, case)
        assert "<script>alert(1)</script>" not in body
        assert "<img src=x" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body

    def test_its_query_count_does_not_grow_with_steps_events_or_approvals(self, client, org, approver):
        client.force_login(approver)
        case = make_case(
            state="needs_attention", protected_reason="protected account (Okta login: x)", okta_user_id="00u1"
        )
        decisions.approve(case.pk, approver)
        page(client, case)
        with CaptureQueriesContext(connection) as one:
            page(client, case)
        for n in range(30):
            user = User.objects.create(username=f"u{n}")
            Approval.objects.create(case=case, user=user)
            Step.objects.create(case=case, kind="remove_group", target=f"g{n}", target_name=f"Group {n}", status="done")
            AuditEvent.record("okta.remove_group.done", actor=user, case=case)
        with CaptureQueriesContext(connection) as many:
            page(client, case)
        assert len(many) == len(one)


class TestDecisions:
    def test_approve_asks_for_confirmation_then_schedules(self, client, approver, synced_case):
        case = synced_case()
        client.force_login(approver)
        response = confirm(client, "case_approve", case, reason="HR confirmed")
        assert "Approved." in response.content.decode()
        case.refresh_from_db()
        assert case.state == Case.State.SCHEDULED
        assert case.decision_reason == "HR confirmed"

    def test_the_first_post_changes_nothing(self, client, approver, synced_case):
        case = synced_case()
        client.force_login(approver)
        client.post(reverse("case_approve", args=[case.pk]), {"reason": ""})
        case.refresh_from_db()
        assert case.state == Case.State.PENDING_REVIEW

    def test_reject_needs_a_reason(self, client, approver, synced_case):
        case = synced_case()
        client.force_login(approver)
        response = confirm(client, "case_reject", case, reason="  ")
        assert "A reason is required to reject." in response.content.decode()
        assert Case.objects.get(pk=case.pk).state == Case.State.PENDING_REVIEW
        confirm(client, "case_reject", case, reason="Rehired the same day")
        case.refresh_from_db()
        assert case.state == Case.State.REJECTED
        assert case.decision_reason == "Rehired the same day"

    def test_a_protected_account_needs_a_second_different_approver(
        self, client, approver, second_approver, synced_case
    ):
        ProtectedAccount.objects.create(kind="login", value="zoë.müller@acme.example")
        case = synced_case()
        assert case.protected_reason
        client.force_login(approver)
        assert "Two different approvers must approve it" in page(client, case)
        response = confirm(client, "case_approve", case)
        assert "a second, different approver must approve too" in response.content.decode()
        assert "You have approved this case" in page(client, case)
        response = confirm(client, "case_approve", case)
        assert "You have already approved this case" in response.content.decode()
        client.force_login(second_approver)
        confirm(client, "case_approve", case)
        assert Case.objects.get(pk=case.pk).state == Case.State.SCHEDULED

    def test_a_refused_decision_shows_the_reason(self, client, approver, synced_case):
        case = synced_case()
        decisions.reject(case.pk, approver, "no")
        client.force_login(approver)
        response = client.post(reverse("case_approve", args=[case.pk]), {"confirmed": "yes"}, follow=True)
        assert "can no longer be approved" in response.content.decode()


class TestProtectedSinceItOpened:
    def test_the_page_says_so_before_anyone_approves_and_one_approval_waits_for_a_second(
        self, client, approver, second_approver, synced_case
    ):
        case = synced_case()
        ProtectedAccount.objects.create(kind="group", value="GitHub Engineers E100", note="admins of the code")
        client.force_login(approver)
        body = page(client, case)
        assert "(protected since the case opened)" in body
        assert "Two different approvers must approve it" in body
        response = confirm(client, "case_approve", case)
        assert "a second, different approver must approve too" in response.content.decode()
        assert Case.objects.get(pk=case.pk).state == Case.State.NEEDS_ATTENTION
        client.force_login(second_approver)
        confirm(client, "case_approve", case)
        assert Case.objects.get(pk=case.pk).state == Case.State.SCHEDULED

    def test_a_group_joined_since_it_opened_is_read_live(self, client, org, approver, synced_case):
        ProtectedAccount.objects.create(kind="group", value="Okta Super Admins")
        case = synced_case()
        admins = org.add_okta_group("Okta Super Admins")
        org.add_okta_membership(admins["id"], case.okta_user_id)
        client.force_login(approver)
        assert "Okta Super Admins) (protected since the case opened)" in page(client, case)


class TestRunningAndDone:
    def test_progress_is_served_as_json(self, client, approver, synced_case):
        case = synced_case(days_ahead=-1)
        decisions.approve(case.pk, approver)
        client.force_login(approver)
        body = page(client, case)
        assert f'data-progress-url="{reverse("case_progress", args=[case.pk])}"' in body
        revocation.run_case(case.pk)
        data = client.get(reverse("case_progress", args=[case.pk])).json()
        assert data["state"] == "completed" and data["live"] is False
        assert {"remove_group", "deactivate", "verify"} <= {s["kind"] for s in data["steps"]}
        assert all(s["status"] in ("done", "skipped") for s in data["steps"])
        assert data["jira_url"].endswith(f"/browse/{data['jira_key']}")

    def test_a_completed_case_shows_the_result_and_the_jira_link(self, client, org, approver, synced_case, settings):
        case = synced_case(days_ahead=-1)
        decisions.approve(case.pk, approver)
        revocation.run_case(case.pk)
        case.refresh_from_db()
        client.force_login(approver)
        body = page(client, case)
        assert f'href="{settings.JIRA_BASE_URL}/browse/{case.jira_key}"' in body
        assert "Time to revoke" in body
        assert "data-progress-url" not in body

    def test_a_failed_case_can_be_retried(self, client, org, approver, synced_case):
        case = synced_case(days_ahead=-1)
        decisions.approve(case.pk, approver)
        org.fault("okta", "error", endpoint="POST /api/v1/users/*/lifecycle/deactivate", status=500, rate=1)
        revocation.run_case(case.pk)
        assert Case.objects.get(pk=case.pk).state == Case.State.FAILED
        org.clear_faults()
        client.force_login(approver)
        assert "Retry…" in page(client, case)
        confirm(client, "case_retry", case)
        assert Case.objects.get(pk=case.pk).state == Case.State.APPROVED

    def test_restore_takes_two_people(self, client, approver, second_approver, synced_case):
        case = synced_case(days_ahead=-1)
        decisions.approve(case.pk, approver)
        revocation.run_case(case.pk)
        client.force_login(approver)
        confirm(client, "case_restore", case, reason="Rescinded by HR")
        body = page(client, case)
        assert "Restore requested by <strong>alice</strong>" in body
        assert "Approve the restore…" not in body
        client.force_login(second_approver)
        response = confirm(client, "case_approve_restore", case)
        assert "Restore approved" in response.content.decode()
        assert Case.objects.get(pk=case.pk).restore_approved_by == second_approver
