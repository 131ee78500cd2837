"""Who may see what: anonymous users sign in first, users without a role see nothing.

The pages are read from the URL configuration, so a new page cannot be forgotten.
"""

import pytest
from django.test import Client
from django.urls import reverse

from tests.urlconf import ANY_SIGNED_IN_USER, OPEN_TO_ANYONE, named_urls, url_of

PROTECTED = sorted(set(named_urls()) - OPEN_TO_ANYONE - ANY_SIGNED_IN_USER)


@pytest.mark.django_db
class TestAnonymous:
    def test_the_url_walk_finds_the_pages(self):
        assert {"home", "case"} <= set(PROTECTED)

    @pytest.mark.parametrize("name", PROTECTED)
    @pytest.mark.parametrize("method", ["get", "post"])
    def test_it_is_sent_to_the_login_page(self, client, name, method):
        url = url_of(name)
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{reverse('login')}?next=")

    def test_it_reaches_the_login_page(self, client):
        response = client.get(reverse("login"))
        assert response.status_code == 200
        assert b"Sign in" in response.content

    def test_it_reaches_the_health_check(self, client):
        assert client.get(reverse("healthz")).status_code == 200

    def test_the_admin_asks_it_to_sign_in(self, client):
        response = client.get("/admin/")
        assert response.status_code == 302
        assert "login" in response["Location"]


class TestUserWithoutRole:
    @pytest.mark.parametrize("name", PROTECTED)
    @pytest.mark.parametrize("method", ["get", "post"])
    def test_it_gets_a_clear_403_and_no_data(self, client, no_role_user, name, method):
        client.force_login(no_role_user)
        response = getattr(client, method)(url_of(name))
        assert response.status_code == 403
        assert b"You have no role in Offboarding" in response.content

    def test_it_can_still_sign_out(self, client, no_role_user):
        client.force_login(no_role_user)
        response = client.post(reverse("logout"))
        assert response.status_code == 302
        assert "_auth_user_id" not in client.session

    def test_it_cannot_use_the_admin(self, client, no_role_user):
        client.force_login(no_role_user)
        assert client.get("/admin/offboarding/autoapproverule/").status_code == 403


class TestRoles:
    @pytest.mark.parametrize("who", ["approver", "auditor", "admin_user"])
    def test_each_role_reaches_home(self, client, request, who):
        client.force_login(request.getfixturevalue(who))
        response = client.get(reverse("home"))
        assert response.status_code == 200

    def test_navigation_shows_admin_only_to_admins(self, client, approver, admin_user):
        client.force_login(approver)
        assert b'href="/admin/"' not in client.get(reverse("home")).content
        client.force_login(admin_user)
        assert b'href="/admin/"' in client.get(reverse("home")).content


class TestDjangoAdmin:
    def test_admins_manage_rules_and_protected_accounts(self, client, admin_user):
        client.force_login(admin_user)
        assert client.get("/admin/offboarding/autoapproverule/add/").status_code == 200
        assert client.get("/admin/offboarding/protectedaccount/add/").status_code == 200

    def test_audit_events_are_read_only_even_for_admins(self, client, admin_user):
        client.force_login(admin_user)
        assert client.get("/admin/offboarding/auditevent/").status_code == 200
        assert client.get("/admin/offboarding/auditevent/add/").status_code == 403

    @pytest.mark.parametrize("who", ["approver", "auditor"])
    def test_other_roles_are_kept_out(self, client, request, who):
        client.force_login(request.getfixturevalue(who))
        assert client.get("/admin/offboarding/autoapproverule/").status_code == 302


@pytest.mark.django_db
class TestLocalLogin:
    def test_it_signs_in_with_a_password_and_csrf(self, approver):
        client = Client(enforce_csrf_checks=True)
        page = client.get(reverse("login"))
        token = page.cookies["csrftoken"].value
        response = client.post(
            reverse("login"),
            {"username": "alice", "password": "pw-for-tests-only", "csrfmiddlewaretoken": token},
        )
        assert response.status_code == 302
        assert response["Location"] == reverse("home")

    def test_it_refuses_a_post_without_csrf_token(self, approver):
        client = Client(enforce_csrf_checks=True)
        response = client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests-only"})
        assert response.status_code == 403

    def test_it_refuses_a_wrong_password(self, client, approver):
        response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
        assert b"didn't match" in response.content
