"""Engine-side security: secrets never leak; sign-in is rate-limited; sessions end; every page sends its headers."""

import base64
import json
import logging
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, revocation, tickets
from offboarding.models import AuditEvent, Case
from tests.factories import signed, workday_event
from tests.processes import PRODUCTION, manage
from tests.urlconf import named_urls, url_of

PUSH_SECRET = "push-secret-Zq81-never-shown"


@pytest.fixture
def secrets(org, settings):
    settings.WORKDAY_PUSH_SECRET = PUSH_SECRET
    values = {
        "SECRET_KEY": settings.SECRET_KEY,
        "OKTA_API_TOKEN": settings.OKTA_API_TOKEN,
        "JIRA_API_TOKEN": settings.JIRA_API_TOKEN,
        "WORKDAY_PASSWORD": settings.WORKDAY_PASSWORD,
        "WORKDAY_PUSH_SECRET": PUSH_SECRET,
    }
    # As they travel: Basic auth headers, base64-encoded.
    values["jira basic auth"] = base64.b64encode(f"{settings.JIRA_EMAIL}:{settings.JIRA_API_TOKEN}".encode()).decode()
    values["workday basic auth"] = base64.b64encode(
        f"{settings.WORKDAY_USERNAME}:{settings.WORKDAY_PASSWORD}".encode()
    ).decode()
    assert all(len(v) >= 8 for v in values.values()), "too short to scan for"
    return values


def leaks(text: str, secrets: dict) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


class TestSecretsNeverLeak:
    def test_a_full_run_with_failures_leaves_no_secret_in_logs_audit_jira_evidence_or_exports(
        self, org, leaver, approver, auditor, secrets, caplog
    ):
        caplog.set_level(logging.DEBUG)
        leaver("E100", days_ahead=-1)
        # Through the push, signed with the shared secret, then a revocation that meets failures and a retry.
        response = Client().post(
            "/api/workday/events",
            data=workday_event("E100"),
            content_type="application/json",
            **signed(workday_event("E100"), PUSH_SECRET),
        )
        assert response.status_code == 200
        case = decisions.approve(Case.objects.get().pk, approver, "HR confirmed")
        org.fault("okta", "error", "POST /api/v1/users/*/lifecycle/deactivate", status=503)
        org.fault("okta", "error", "DELETE /api/v1/groups/*/users/*", status=500, count=1)
        org.fault("jira", "error", "POST /rest/api/3/issue", status=500, count=1)
        revocation.run_case(case.pk)
        org.clear_faults()
        Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
        tickets.retry_pending_tickets()
        decisions.retry_case(case.pk, approver)
        revocation.run_case(case.pk)
        case.refresh_from_db()
        assert case.state == Case.State.COMPLETED and case.ticket == Case.Ticket.FILED
        # A refused push too (bad signature), which is audited.
        Client().post(
            "/api/workday/events",
            data=workday_event("E100"),
            content_type="application/json",
            **signed(workday_event("E100"), "wrong"),
        )

        assert "okta" in caplog.text and "HTTP 503" in caplog.text, "the DEBUG logs were captured"
        logged = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
        assert leaks(logged, secrets) == []
        events = json.dumps(list(AuditEvent.objects.values()), default=str)
        assert leaks(events, secrets) == []
        (issue,) = org.jira_issues()
        attachments = [base64.b64decode(a["content"]).decode() for a in issue["attachments"]]
        assert attachments
        assert leaks(json.dumps(issue) + "\n".join(attachments), secrets) == []

        client = Client()
        client.force_login(auditor)
        pages = [
            reverse("evidence", args=[case.pk]),
            reverse("evidence_export", args=[case.pk]),
            reverse("history_export", args=["csv"]),
            reverse("history_export", args=["json"]),
            reverse("history"),
            reverse("integrity"),
        ]
        client.force_login(approver)
        pages_as_approver = [reverse("case", args=[case.pk]), reverse("home")]
        for who, urls in ((auditor, pages), (approver, pages_as_approver)):
            client.force_login(who)
            for url in urls:
                response = client.get(url)
                assert response.status_code == 200, url
                body = b"".join(response.streaming_content) if response.streaming else response.content
                assert leaks(body.decode(), secrets) == [], url


@pytest.fixture
def local_login(db, approver):
    client = Client(REMOTE_ADDR="203.0.113.7")

    def attempt(password: str, username: str = "alice"):
        return client.post(reverse("login"), {"username": username, "password": password})

    return attempt


@pytest.mark.django_db
class TestLoginRateLimit:
    def test_five_failures_lock_the_username_even_with_the_right_password(self, local_login):
        for _ in range(5):
            assert local_login("wrong").status_code == 200
        response = local_login("pw-for-tests-only")
        assert response.status_code == 429
        assert b"Too many failed sign-ins" in response.content
        assert AuditEvent.objects.filter(action="auth.login_refused").count() == 1

    def test_a_success_before_the_limit_clears_the_count(self, local_login):
        for _ in range(4):
            local_login("wrong")
        assert local_login("pw-for-tests-only").status_code == 302
        for _ in range(4):
            local_login("wrong")
        assert local_login("pw-for-tests-only").status_code == 302

    def test_one_address_trying_many_usernames_is_locked(self, local_login, make_user):
        make_user("zed", "approvers")
        for n in range(20):
            local_login("wrong", username=f"guess{n}")
        assert local_login("pw-for-tests-only", username="zed").status_code == 429

    def test_the_lock_does_not_reach_other_addresses(self, local_login, approver):
        for _ in range(5):
            local_login("wrong")
        other = Client(REMOTE_ADDR="198.51.100.1")
        other.post(reverse("login"), {"username": "bob", "password": "x"})
        assert other.post(reverse("login"), {"username": "alice", "password": "pw-for-tests-only"}).status_code == 429
        # (the username is what is locked; another username from another address signs in)
        response = Client(REMOTE_ADDR="198.51.100.2").post(reverse("login"), {"username": "bob", "password": "x"})
        assert response.status_code == 200


@pytest.mark.django_db
class TestSessions:
    def test_an_expired_session_is_sent_to_sign_in(self, client, approver):
        client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests-only"})
        assert client.get(reverse("home")).status_code == 200
        Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
        response = client.get(reverse("home"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    def test_sessions_end_with_the_browser_and_after_a_working_day(self, settings):
        assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
        assert settings.SESSION_COOKIE_AGE <= 8 * 3600
        assert settings.SESSION_COOKIE_HTTPONLY

    def test_logout_ends_the_session_and_needs_a_post(self, approver):
        client = Client(enforce_csrf_checks=True)
        client.force_login(approver)
        assert client.get(reverse("logout")).status_code == 405
        token = client.get(reverse("home")).cookies.get("csrftoken") or client.cookies["csrftoken"]
        response = client.post(reverse("logout"), {"csrfmiddlewaretoken": token.value})
        assert response.status_code == 302
        assert not Session.objects.exists()
        assert client.get(reverse("home")).status_code == 302

    def test_logout_without_csrf_is_refused(self, approver):
        client = Client(enforce_csrf_checks=True)
        client.force_login(approver)
        assert client.post(reverse("logout")).status_code == 403
        assert Session.objects.exists()


EVERY_URL = sorted(set(named_urls()))
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def check_headers(response, url):
    for name, value in HEADERS.items():
        assert response.get(name) == value, (url, name, response.get(name))
    csp = response.get("Content-Security-Policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in csp, (url, csp)


class TestTheMatrixWalksEveryPage:
    def test_it_holds_the_identity_pages(self):
        # Walked from the URL configuration: every role, method, CSRF, guessed id and header check covers them.
        assert {"case_identity", "case_no_account"} <= set(EVERY_URL)


@pytest.mark.django_db
class TestSecurityHeaders:
    @pytest.mark.parametrize("name", EVERY_URL)
    @pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "every-role"])
    def test_every_page_sends_them_to_everyone(self, client, make_user, name, signed_in, settings):
        settings.SECURE_SSL_REDIRECT = False
        settings.SECURE_HSTS_SECONDS = 31536000  # as in production (DEBUG off)
        if signed_in:
            client.force_login(make_user("root", "approvers", "auditors", "admins"))
        url = url_of(name)
        response = client.get(url, secure=True)
        check_headers(response, url)
        assert response.get("Strict-Transport-Security", "").startswith("max-age=31536000"), url

    def test_the_admin_and_an_unknown_page_send_them_too(self, client, admin_user):
        client.force_login(admin_user)
        for url in ("/admin/", "/admin/offboarding/case/", "/no-such-page"):
            check_headers(client.get(url), url)

    def test_production_turns_hsts_on_by_default(self):
        result = manage(
            "shell", "-c", "from django.conf import settings; print(settings.SECURE_HSTS_SECONDS)", **PRODUCTION
        )
        assert result.stdout.strip().splitlines()[-1] == "31536000", result.stderr
