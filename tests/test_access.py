"""Who may see what: anonymous users sign in first, users without a role see nothing."""

import pytest
from django.test import Client
from django.urls import reverse

ROLE_PAGES = ["home"]


@pytest.mark.django_db
class TestAnonymous:
    @pytest.mark.parametrize("name", ROLE_PAGES)
    def test_it_is_sent_to_the_login_page(self, client, name):
        url = reverse(name)
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"

    def test_it_reaches_the_login_page(self, client):
        response = client.get(reverse("login"))
        assert response.status_code == 200
        assert b"Sign in" in response.content

    def test_it_reaches_the_health_check(self, client):
        assert client.get(reverse("healthz")).status_code == 200


class TestUserWithoutRole:
    @pytest.mark.parametrize("name", ROLE_PAGES)
    def test_it_gets_a_clear_403_and_no_data(self, client, no_role_user, name):
        client.force_login(no_role_user)
        response = client.get(reverse(name))
        assert response.status_code == 403
        assert b"You have no role in Offboarding" in response.content

    def test_it_can_still_sign_out(self, client, no_role_user):
        client.force_login(no_role_user)
        response = client.post(reverse("logout"))
        assert response.status_code == 302
        assert "_auth_user_id" not in client.session


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
        assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content
