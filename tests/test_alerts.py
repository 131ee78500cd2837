"""Alerts reach whoever is on call, whatever Workday's text holds, and an alert that cannot be sent is seen."""

import pytest
from django.test import Client
from django.urls import reverse

from offboarding import sync
from offboarding.models import Case


@pytest.fixture
def on_call(settings):
    settings.ALERT_EMAILS = ["security-oncall@acme.example"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


def a_case_needing_attention(leaver, django_capture_on_commit_callbacks, employee_id="E100", **names) -> Case:
    """A leaver Okta does not know: the case needs a human, and its alert goes out as the sync commits."""
    leaver(employee_id, in_okta=False, **names)
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_workday()
    case = Case.objects.get(termination__employee_id=employee_id)
    assert case.state == Case.State.NEEDS_ATTENTION
    return case


def page_for(user, url: str = "/") -> str:
    client = Client()
    client.force_login(user)
    return client.get(url).content.decode()


class TestAlertSubjects:
    def test_a_line_break_in_a_workday_name_still_sends_one_line(
        self, on_call, leaver, mailoutbox, django_capture_on_commit_callbacks
    ):
        case = a_case_needing_attention(
            leaver, django_capture_on_commit_callbacks, first="Zoë\r\nBcc: mallory@evil.example\n", last="Müller-" * 20
        )
        (mail,) = mailoutbox
        assert "\n" not in mail.subject and "\r" not in mail.subject
        assert mail.subject.startswith(f"[Offboarding] Case {case.pk} needs attention: Zoë Bcc: mallory@evil.example")
        assert len(mail.subject) <= 150 and mail.subject.endswith("…")
        assert mail.bcc == [] and mail.to == ["security-oncall@acme.example"]


class TestUndeliveredAlerts:
    def test_a_failed_alert_shows_to_approvers_and_admins_and_fails_the_health_check_until_one_is_sent(
        self, on_call, leaver, approver, admin_user, auditor, django_capture_on_commit_callbacks
    ):
        on_call.EMAIL_BACKEND = "tests.mail_backends.FailingBackend"
        case = a_case_needing_attention(leaver, django_capture_on_commit_callbacks)
        health = Client().get(reverse("healthz"))
        assert health.status_code == 503
        assert health.json() == {"status": "failing", "failing": ["alerts"]}
        for who in (approver, admin_user):
            page = page_for(who)
            assert "An alert email could not be sent" in page, who
            assert f"Case {case.pk} needs attention" in page and "SMTPServerDisconnected" in page
        assert "An alert email could not be sent" not in page_for(auditor)

        on_call.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        a_case_needing_attention(leaver, django_capture_on_commit_callbacks, employee_id="E200")
        assert Client().get(reverse("healthz")).status_code == 200
        assert "An alert email could not be sent" not in page_for(approver)
