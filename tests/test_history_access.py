"""Who reads the auditors' pages, and that auditors change nothing anywhere."""

import pytest
from django.urls import NoReverseMatch, resolve, reverse

from offboarding.models import AuditEvent, Case
from tests.factories import make_past_case
from tests.urlconf import ANY_SIGNED_IN_USER, OPEN_TO_ANYONE, named_urls

AUDIT_PAGES = ["history", "sla", "reconciliation", "integrity"]


def url_for(name: str, case: Case) -> str:
    for args in ([], [case.pk]):
        try:
            return reverse(name, args=args)
        except NoReverseMatch:
            continue
    raise AssertionError(f"cannot build a URL for {name}")


@pytest.mark.django_db
class TestWhoReadsTheAuditPages:
    @pytest.mark.parametrize("who", ["auditor", "approver", "admin_user"])
    @pytest.mark.parametrize("name", AUDIT_PAGES)
    def test_every_role_reads_them(self, client, request, who, name):
        client.force_login(request.getfixturevalue(who))
        assert client.get(reverse(name)).status_code == 200

    @pytest.mark.parametrize("who", ["auditor", "approver", "admin_user"])
    def test_every_role_opens_the_evidence(self, client, request, who):
        client.force_login(request.getfixturevalue(who))
        assert client.get(reverse("evidence", args=[make_past_case().pk])).status_code == 200

    def test_the_navigation_leads_to_them(self, client, auditor):
        client.force_login(auditor)
        nav = client.get(reverse("home")).content.decode().split("</nav>")[0]
        for name in AUDIT_PAGES:
            assert f'href="{reverse(name)}"' in nav


@pytest.mark.django_db
class TestAuditorsAreReadOnly:
    NAMES = sorted(set(named_urls()) - OPEN_TO_ANYONE - ANY_SIGNED_IN_USER)

    @pytest.mark.parametrize("name", NAMES)
    def test_every_post_is_refused(self, client, auditor, name):
        case = make_past_case(state=Case.State.PENDING_REVIEW, took=None)
        events = AuditEvent.objects.count()
        client.force_login(auditor)
        url = url_for(name, case)
        response = client.post(url, {"reason": "auditor tries", "verify": "now"})
        # The one POST that only starts a reading (a check of the audit chain) is theirs; it changes nothing either.
        expected = 302 if getattr(resolve(url).func, "read_only_action", False) else 403
        assert response.status_code == expected, f"POST {name} answered {response.status_code}"
        case.refresh_from_db()
        assert case.state == Case.State.PENDING_REVIEW
        assert AuditEvent.objects.count() == events

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_nor_any_other_change(self, client, auditor, method):
        client.force_login(auditor)
        case = make_past_case()
        for name in ["home", "case", "history", "evidence"]:
            assert getattr(client, method)(url_for(name, case)).status_code == 403

    def test_an_auditor_can_still_sign_out(self, client, auditor):
        client.force_login(auditor)
        assert client.post(reverse("logout")).status_code == 302
        assert "_auth_user_id" not in client.session

    def test_an_auditor_who_is_also_an_approver_keeps_the_approvers_rights(self, client, make_user):
        client.force_login(make_user("erin", "auditors", "approvers"))
        assert client.post(reverse("history")).status_code == 405  # refused by the page, not by the role

    def test_the_audit_pages_take_no_post_from_anyone(self, client, admin_user):
        client.force_login(admin_user)
        case = make_past_case()
        for name in ["history", "history_export", "evidence", "evidence_export", *AUDIT_PAGES]:
            assert client.post(url_for(name, case)).status_code == 405
