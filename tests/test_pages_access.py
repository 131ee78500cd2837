"""Every page and every action against every role, for GET and POST, read from the URL configuration.

The roles a view allows are the ones its `role_required` names; a new page without it fails here.
"""

import pytest
from django.test import Client
from django.urls import resolve, reverse

from offboarding.models import AuditCheck, AutoApproveRule, ProtectedAccount
from tests.factories import make_case
from tests.urlconf import PAGES, WHO, url_for


@pytest.fixture
def objects(db):
    """One of each thing a URL can name."""
    case = make_case()
    return {
        "case_id": case.pk,
        "rule_id": AutoApproveRule.objects.create(name="Voluntary leavers").pk,
        "account_id": ProtectedAccount.objects.create(kind="login", value="ceo@acme.example").pk,
        "fmt": "csv",
    }


class TestEveryPageAgainstEveryRole:
    def test_the_walk_finds_the_security_teams_pages(self):
        names = {name for name, _ in PAGES}
        assert {"home", "case", "case_approve", "case_reject", "emergency", "rules", "safety_settings"} <= names

    @pytest.mark.parametrize(("name", "kwargs"), PAGES, ids=[p[0] for p in PAGES])
    def test_every_view_names_the_roles_it_allows(self, name, kwargs, objects):
        view = resolve(url_for(name, kwargs, objects)).func
        assert getattr(view, "allowed_roles", None), f"{name} has no @role_required"

    @pytest.mark.parametrize(("name", "kwargs"), PAGES, ids=[p[0] for p in PAGES])
    def test_only_the_allowed_roles_get_through(self, request, objects, name, kwargs):
        url = url_for(name, kwargs, objects)
        allowed = set(resolve(url).func.allowed_roles)
        # Through the role check: the page, a redirect after an action, or a wrong method
        # (or not found, for a URL argument these tests cannot make up).
        passed = {200, 302, 405} | ({404} if set(kwargs) - set(objects) else set())
        for who in WHO:
            user = None if who == "anonymous" else request.getfixturevalue(who)
            for method in ("get", "post"):
                client = Client()
                if user:
                    client.force_login(user)
                response = getattr(client, method)(url)
                where = f"{who} {method.upper()} {url}: {response.status_code}"
                if user is None:
                    assert response.status_code == 302, where
                    assert response["Location"].startswith(reverse("login")), where
                elif not allowed & {g.name for g in user.groups.all()}:
                    assert response.status_code == 403, where
                elif (
                    who == "auditor" and method == "post" and not getattr(resolve(url).func, "read_only_action", False)
                ):
                    # Read-only whatever the view allows (but a POST that only starts a reading).
                    assert response.status_code in {403, 405}, where
                else:
                    assert response.status_code in passed, where


class TestAuditorsAreReadOnly:
    def test_the_only_post_an_auditor_may_make_starts_a_check_of_the_audit_log(self):
        marked = {
            name
            for name, kwargs in PAGES
            if getattr(resolve(url_for(name, kwargs, {})).func, "read_only_action", False)
        }
        assert marked == {"integrity_verify"}

    @pytest.mark.django_db
    def test_an_auditor_starts_a_check_and_changes_nothing_else(self, client, auditor):
        client.force_login(auditor)
        assert client.post(reverse("integrity_verify")).status_code == 302
        assert AuditCheck.objects.get().actor == auditor

    def test_a_case_page_shows_an_auditor_no_action(self, client, auditor):
        case = make_case()
        client.force_login(auditor)
        body = client.get(case.get_absolute_url()).content.decode()
        assert "Case" in body
        assert 'method="post" action="/cases/' not in body

    @pytest.mark.parametrize("action", ["case_approve", "case_reject", "case_retry", "case_restore"])
    def test_the_server_refuses_an_auditors_decision(self, client, auditor, action):
        case = make_case()
        client.force_login(auditor)
        response = client.post(reverse(action, args=[case.pk]), {"reason": "x", "confirmed": "yes"})
        assert response.status_code == 403
        case.refresh_from_db()
        assert case.state == "pending_review"

    def test_an_approver_sees_the_decision_forms(self, client, approver):
        case = make_case(okta_user_id="00u1example")  # with no Okta user, there is nothing to approve yet
        client.force_login(approver)
        body = client.get(case.get_absolute_url()).content.decode()
        assert f'action="{reverse("case_approve", args=[case.pk])}"' in body
        assert f'action="{reverse("case_reject", args=[case.pk])}"' in body


class TestNavigation:
    def test_approvers_get_the_queue_and_the_emergency_page(self, client, approver):
        client.force_login(approver)
        body = client.get(reverse("home")).content.decode()
        assert f'href="{reverse("emergency")}"' in body
        assert f'href="{reverse("rules")}"' not in body

    def test_admins_get_rules_protected_accounts_and_safety(self, client, admin_user):
        client.force_login(admin_user)
        body = client.get(reverse("home")).content.decode()
        for name in ("rules", "protected_accounts", "safety_settings"):
            assert f'href="{reverse(name)}"' in body
        assert f'href="{reverse("emergency")}"' not in body


@pytest.mark.django_db
class TestCsrf:
    POSTABLE = [p for p in PAGES if p[0] not in {"case_progress"}]

    @pytest.mark.parametrize(("name", "kwargs"), POSTABLE, ids=[p[0] for p in POSTABLE])
    def test_every_post_without_a_token_is_refused(self, make_user, objects, name, kwargs):
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_user("everyone", "approvers", "auditors", "admins"))
        response = client.post(url_for(name, kwargs, objects), {"reason": "x", "confirmed": "yes"})
        assert response.status_code in (403, 405)
        if response.status_code == 403:
            assert b"CSRF" in response.content or b"Forbidden" in response.content

    @pytest.mark.parametrize(("name", "kwargs"), PAGES, ids=[p[0] for p in PAGES])
    def test_every_form_a_page_shows_carries_the_token(self, make_user, objects, name, kwargs):
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_user("everyone", "approvers", "auditors", "admins"))
        response = client.get(url_for(name, kwargs, objects))
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            return
        body = response.content.decode()
        forms = body.split("<form")[1:]
        for form in forms:
            head, _, rest = form.partition(">")
            if 'method="post"' in head:
                assert "csrfmiddlewaretoken" in rest.split("</form>")[0], f"{name}: a form without a CSRF token"
