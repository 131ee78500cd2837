"""What tests/test_access.py and tests/test_pages_access.py leave out: every other HTTP method on every URL
for every role, ids guessed without the role, and four-eyes through the pages.

Both earlier files walk the URL configuration for GET and POST, CSRF and the auditors' read-only rule;
this one walks the same configuration for PUT, PATCH, DELETE, OPTIONS and HEAD.
"""

import pytest
from django.test import Client
from django.urls import resolve, reverse

from offboarding import decisions, sync
from offboarding.models import Approval, AuditEvent, AutoApproveRule, Case, ProtectedAccount, SafetySettings
from tests.factories import make_case
from tests.urlconf import PAGES, WHO, patterns, url_for

EVERY_URL = sorted(patterns())
CHANGES = ["put", "patch", "delete"]
# Authenticate by signature (tests/test_push.py) or by token or network (tests/test_metrics.py).
MACHINE_ENDPOINTS = {"workday_events", "metrics"}


@pytest.fixture
def objects(db):
    SafetySettings.load()  # made on first read; its making is no change
    case = make_case(okta_user_id="00uGUESSME")
    return {
        "case_id": case.pk,
        "rule_id": AutoApproveRule.objects.create(name="Voluntary leavers").pk,
        "account_id": ProtectedAccount.objects.create(kind="login", value="ceo@acme.example").pk,
        "fmt": "csv",
    }


def state_of_everything() -> tuple:
    return (
        AuditEvent.objects.exclude(action__in=["audit.viewed", "audit.exported"]).count(),
        list(Case.objects.values_list("pk", "state", "decided_by", "restore_requested_by")),
        list(AutoApproveRule.objects.values_list("pk", "enabled", "name")),
        list(ProtectedAccount.objects.values_list("pk", "value")),
        list(SafetySettings.objects.values_list("breaker_tripped_at", "breaker_count")),
        Approval.objects.count(),
    )


def client_for(request, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    return client


class TestEveryOtherMethod:
    @pytest.mark.parametrize(("name", "kwargs"), EVERY_URL, ids=[p[0] for p in EVERY_URL])
    def test_no_role_changes_anything_with_put_patch_or_delete(self, request, objects, name, kwargs):
        url = url_for(name, kwargs, objects)
        before = state_of_everything()
        for who in WHO:
            for method in CHANGES:
                response = getattr(client_for(request, who), method)(url)
                where = f"{who} {method.upper()} {url}: {response.status_code}"
                if who == "anonymous" and name not in {"login", "healthz"} | MACHINE_ENDPOINTS:
                    assert response.status_code == 302 and response["Location"].startswith(reverse("login")), where
                elif name == "login" and who != "anonymous":
                    assert response.status_code == 302, where  # already signed in: sent home
                elif who == "auditor" or name in {"login"} | MACHINE_ENDPOINTS:
                    assert response.status_code in (403, 405), where
                else:
                    assert response.status_code in (403, 405), where
        assert state_of_everything() == before

    @pytest.mark.parametrize(("name", "kwargs"), PAGES, ids=[p[0] for p in PAGES])
    def test_options_and_head_show_nothing_to_a_user_without_the_role(self, request, objects, name, kwargs):
        url = url_for(name, kwargs, objects)
        allowed = set(resolve(url).func.allowed_roles)
        for who in ["no_role_user", "approver", "auditor", "admin_user"]:
            client = client_for(request, who)
            roles = {g.name for g in request.getfixturevalue(who).groups.all()}
            for method in ("options", "head"):
                response = getattr(client, method)(url)
                if not allowed & roles:
                    assert response.status_code == 403, f"{who} {method.upper()} {url}"
                body = b"".join(response.streaming_content) if response.streaming else response.content
                assert b"Ann Example" not in body or allowed & roles


class TestGuessingIds:
    WITH_IDS = [p for p in PAGES if p[1]]

    @pytest.mark.parametrize(("name", "kwargs"), WITH_IDS, ids=[p[0] for p in WITH_IDS])
    def test_without_the_role_a_real_id_and_a_made_up_one_look_the_same(self, request, objects, name, kwargs):
        real = url_for(name, kwargs, objects)
        made_up = reverse(name, kwargs={k: (objects[k] if k == "fmt" else 987654) for k in kwargs})
        allowed = set(resolve(real).func.allowed_roles)
        for who in WHO:
            if who != "anonymous" and allowed & {g.name for g in request.getfixturevalue(who).groups.all()}:
                continue
            client = client_for(request, who)
            for method in ("get", "post"):
                a, b = getattr(client, method)(real), getattr(client, method)(made_up)
                assert a.status_code == b.status_code, (
                    f"{who} {method.upper()} {real}: {a.status_code} vs {b.status_code}"
                )
                assert b"Ann Example" not in a.content and b"00uGUESSME" not in a.content


def post_decision(client: Client, name: str, case: Case, reason: str = "ok"):
    return client.post(reverse(name, args=[case.pk]), {"reason": reason, "confirmed": "yes"})


@pytest.mark.django_db
class TestFourEyesThroughThePages:
    def test_the_same_approver_twice_does_not_approve_a_protected_case(self, client, approver):
        case = make_case(okta_user_id="00uPROTECTED", protected_reason="protected account (ceo@acme.example)")
        client.force_login(approver)
        post_decision(client, "case_approve", case)
        response = post_decision(client, "case_approve", case)
        assert response.status_code == 302
        case.refresh_from_db()
        assert case.state == Case.State.PENDING_REVIEW and case.decided_by is None
        assert Approval.objects.filter(case=case).count() == 1
        messages = [str(m) for m in client.get(reverse("case", args=[case.pk])).context["messages"]]
        assert any("already approved" in m for m in messages), messages

    def test_an_admin_who_requested_an_emergency_cannot_approve_it(self, org, client, make_user):
        root = make_user("root", "approvers", "admins")
        user = org.add_okta_user("E900", "Eve", "Intruder", groups=[])
        case = decisions.start_emergency(user["id"], root, "credentials leaked")
        client.force_login(root)
        post_decision(client, "case_approve", case)
        case.refresh_from_db()
        assert case.state == Case.State.PENDING_REVIEW
        assert list(case.approvals.values_list("user__username", flat=True)) == ["root"]

    def test_an_admin_without_the_approver_role_cannot_approve_at_all(self, client, admin_user):
        case = make_case(okta_user_id="00uX")
        client.force_login(admin_user)
        assert post_decision(client, "case_approve", case).status_code == 403
        assert Case.objects.get(pk=case.pk).state == Case.State.PENDING_REVIEW

    def test_whoever_requests_a_restore_cannot_approve_it(self, client, approver):
        case = make_case(okta_user_id="00uR", state=Case.State.COMPLETED, days_ahead=-1)
        Case.objects.filter(pk=case.pk).update(started_at=case.effective_at, finished_at=case.effective_at)
        client.force_login(approver)
        post_decision(client, "case_restore", case, reason="rescinded")
        post_decision(client, "case_approve_restore", case)
        case.refresh_from_db()
        assert case.restore_requested_by == approver and case.restore_approved_by is None

    def test_a_second_approver_completes_what_the_first_began(self, client, approver, make_user):
        case = make_case(okta_user_id="00uPROTECTED", protected_reason="protected account (ceo@acme.example)")
        client.force_login(approver)
        post_decision(client, "case_approve", case)
        client.force_login(make_user("ben", "approvers"))
        post_decision(client, "case_approve", case)
        case.refresh_from_db()
        assert case.state == Case.State.SCHEDULED
        assert AuditEvent.verify_chain()[0]

    def test_the_same_approver_twice_neither_chooses_a_protected_user_nor_closes_the_case(
        self, org, client, leaver, approver
    ):
        leaver()
        org.add_okta_user("E100", "Zoë", "Müller", login="zoe.admin@acme.example")
        ProtectedAccount.objects.create(kind="login", value="zoe.admin@acme.example")
        sync.sync_workday()
        case = Case.objects.get()
        admin_id = org.okta_user("zoe.admin@acme.example")["user"]["id"]
        client.force_login(approver)
        for _ in range(2):
            client.post(reverse("case_identity", args=[case.pk]), {"okta_user_id": admin_id, "reason": "it is her"})
            post_decision(client, "case_no_account", case, reason="none of them")
        case.refresh_from_db()
        assert case.identity == Case.Identity.MULTIPLE and case.state == Case.State.NEEDS_ATTENTION
        assert not AuditEvent.objects.filter(action__in=["case.identity_chosen", "case.closed_no_account"]).exists()
