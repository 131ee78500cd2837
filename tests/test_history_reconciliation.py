"""The reconciliation report: the latest run and its findings (left in Workday, can still sign in), with history."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from offboarding import reconcile, sync
from offboarding.models import Case, ReconciliationRun


@pytest.fixture
def signed_in(client, auditor):
    client.force_login(auditor)
    return client


def finding(case_id: int, name: str) -> dict:
    return {
        "case": case_id,
        "employee_id": "E1",
        "name": name,
        "okta_user_id": "00u1",
        "login": "someone@acme.example",
        "status": "ACTIVE",
        "case_state": "pending_review",
    }


class TestReconciliationOfARealRun:
    def test_someone_who_left_and_can_still_sign_in_is_a_finding(self, signed_in, leaver):
        leaver(employee_id="E100", days_ahead=-2)
        sync.sync_workday()
        case = Case.objects.get()
        reconcile.reconcile()
        page = signed_in.get(reverse("reconciliation")).content.decode()
        assert "1 finding" in page
        assert f'<a href="{reverse("evidence", args=[case.pk])}">{case.pk}</a>' in page
        assert "Zoë Müller" in page and "E100" in page and "ACTIVE" in page


@pytest.mark.django_db
class TestReconciliationReport:
    def test_it_says_when_none_has_run(self, signed_in):
        assert "No reconciliation has run yet." in signed_in.get(reverse("reconciliation")).content.decode()

    def test_it_shows_the_latest_run_and_lists_the_others(self, signed_in):
        now = timezone.now()
        old = ReconciliationRun.objects.create(
            started_at=now - timedelta(days=1), finished_at=now, checked=5, findings=[finding(1, "Old Finding")]
        )
        ReconciliationRun.objects.create(started_at=now, finished_at=now, checked=7)
        response = signed_in.get(reverse("reconciliation"))
        page = response.content.decode()
        assert "Latest run" in page and "7 cases checked" in page and "0 findings" in page
        assert "Nobody who has left can still sign in." in page
        assert "Old Finding" not in page
        assert f'href="?run={old.pk}"' in page
        assert len(response.context["page"].object_list) == 2

    def test_an_older_run_can_be_opened(self, signed_in):
        now = timezone.now()
        old = ReconciliationRun.objects.create(
            started_at=now - timedelta(days=1), checked=5, findings=[finding(1, "Old Finding")]
        )
        ReconciliationRun.objects.create(started_at=now, finished_at=now, checked=7)
        page = signed_in.get(reverse("reconciliation"), {"run": old.pk}).content.decode()
        assert "Old Finding" in page and "Did not finish." in page and "Latest run" not in page

    def test_errors_are_listed(self, signed_in):
        ReconciliationRun.objects.create(checked=1, errors=[{"case": 3, "error": "Okta answered 503"}])
        page = signed_in.get(reverse("reconciliation")).content.decode()
        assert "1 could not be checked" in page and "Okta answered 503" in page

    def test_finding_text_is_escaped(self, signed_in):
        ReconciliationRun.objects.create(checked=1, findings=[finding(1, "<b>bold</b>")])
        page = signed_in.get(reverse("reconciliation")).content.decode()
        assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
