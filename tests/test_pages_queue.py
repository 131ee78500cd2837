"""The approvers' queue: order, columns, filters, search, pages, counts, the breaker banner."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from offboarding.models import Case, ProtectedAccount, SafetySettings
from offboarding.views import PAGE_SIZE, filtered_cases
from tests.factories import make_case
from tests.plans import sorts_rows


@pytest.fixture
def queue(client, approver):
    client.force_login(approver)

    def get(**params) -> str:
        response = client.get(reverse("home"), params)
        assert response.status_code == 200
        return response.content.decode()

    return get


class TestQueue:
    def test_it_lists_the_danger_first_then_pending_scheduled_and_running(self, queue):
        for n, state in enumerate(["needs_attention", "failed", "running", "scheduled", "pending_review"]):
            make_case(f"Person {state}", f"E{n}", state=state)
        make_case("Done Already", "E9", state="completed")
        body = queue()
        order = ["failed", "needs_attention", "pending_review", "scheduled", "running"]
        positions = [body.index(f"Person {s}") for s in order]
        assert positions == sorted(positions)
        assert "Done Already" not in body

    def test_each_row_shows_what_the_approver_needs(self, queue):
        make_case("Ann Example", "E77", department="Finance", groups=4)
        body = queue()
        for text in ["Ann Example", "E77", "e77@acme.example", "Finance", "Sofia Quinn", "Voluntary", "UTC"]:
            assert text in body
        assert "America/New_York" in body
        assert "Exact (employeeNumber and name agree)" in body
        assert '<td class="wide">4</td>' in body

    def test_a_case_protected_since_it_opened_says_it_takes_two_approvers(self, queue):
        make_case("Ann Example", "E1", okta_user_id="00uE1")
        make_case("Ben Example", "E2", okta_user_id="00uE2", protected_reason="protected account (Okta login: b)")
        make_case("Cat Example", "E3", okta_user_id="00uE3")
        ProtectedAccount.objects.create(kind="group", value="gE1-1")  # one of Ann's groups, by its id
        body = queue()
        assert body.count("protected: two approvers") == 2
        row = body[body.index("Cat Example") :].split("</tr>")[0]
        assert "protected" not in row

    def test_it_filters_by_state_department_category_and_dates(self, queue):
        make_case("Fin Person", "E1", department="Finance", category="Involuntary", days_ahead=3)
        make_case("Eng Person", "E2", department="Engineering", days_ahead=20)
        make_case("Late Person", "E3", state="failed", days_ahead=3)
        assert "Eng Person" not in queue(department="Finance")
        assert "Fin Person" in queue(department="Finance")
        assert "Eng Person" not in queue(category="Involuntary")
        failed = queue(state="failed")
        assert "Late Person" in failed and "Fin Person" not in failed
        soon = queue(effective_to=(date.today() + timedelta(days=10)).isoformat())
        assert "Fin Person" in soon and "Eng Person" not in soon
        later = queue(effective_from=(date.today() + timedelta(days=10)).isoformat())
        assert "Eng Person" in later and "Fin Person" not in later

    def test_a_closed_state_can_be_chosen(self, queue):
        make_case("Done Already", "E9", state="completed")
        assert "Done Already" in queue(state="completed")

    def test_one_state_is_listed_by_effective_moment(self, queue):
        for n, days in enumerate([5, 1, 3]):
            make_case(f"Done in {days}", f"E{n}", state="completed", days_ahead=days)
        body = queue(state="completed")
        assert body.index("Done in 1") < body.index("Done in 3") < body.index("Done in 5")

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan (DATABASE_URL=postgres://...)")
    def test_one_closed_state_is_read_from_an_index_in_that_order(self, db):
        now = timezone.now()
        Case.objects.bulk_create(
            Case(state=Case.State.COMPLETED, effective_at=now - timedelta(hours=n)) for n in range(5_000)
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        plan = filtered_cases({"state": Case.State.COMPLETED})[:PAGE_SIZE].explain()
        assert not sorts_rows(plan), plan

    @pytest.mark.parametrize("term", ["zoë", "E5150", "zoe.m@acme"])
    def test_it_searches_by_name_employee_id_or_login(self, queue, term):
        make_case("Zoë Müller", "E5150", okta_login="zoe.m@acme.example")
        make_case("Other Person", "E2")
        body = queue(q=term)
        assert "Zoë Müller" in body
        assert "Other Person" not in body

    def test_it_pages_and_keeps_the_filters(self, queue):
        for n in range(30):
            make_case(f"Person {n:02}", f"E{n}", department="Sales")
        first = queue(department="Sales")
        assert "page 1 of 2" in first
        assert "department=Sales&amp;page=2" in first
        assert "Person 29" in queue(department="Sales", page=2)

    def test_it_counts_cases_per_state(self, queue):
        for n in range(3):
            make_case(f"P{n}", f"E{n}")
        make_case("F", "E9", state="failed")
        body = queue()
        assert "Pending review</span> <strong>3</strong>" in body
        assert "Failed</span> <strong>1</strong>" in body

    def test_a_tripped_breaker_shows_a_banner(self, queue):
        assert "Auto-approval is paused" not in queue()
        SafetySettings.objects.update_or_create(
            pk=1, defaults={"breaker_tripped_at": timezone.now(), "breaker_reason": "40 new terminations"}
        )
        body = queue()
        assert "Auto-approval is paused" in body
        assert "40 new terminations" in body

    def test_workday_text_is_shown_as_text(self, queue):
        make_case("<script>alert(1)</script> Evil", "E1", department="<b>Dept</b>")
        body = queue()
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "<b>Dept</b>" not in body

    def test_its_query_count_does_not_grow_with_the_rows(self, client, approver):
        client.force_login(approver)
        make_case("First", "E0")
        client.get(reverse("home"))  # the first request of a session creates the settings row
        with CaptureQueriesContext(connection) as one:
            client.get(reverse("home"))
        for n in range(1, 30):
            make_case(f"P{n}", f"E{n}", department=f"Dept {n}", state=["failed", "scheduled"][n % 2])
        with CaptureQueriesContext(connection) as many:
            client.get(reverse("home"))
        assert len(many) == len(one)

    def test_auditors_and_admins_keep_their_own_home(self, client, auditor):
        make_case("Ann Example", "E1")
        client.force_login(auditor)
        body = client.get(reverse("home")).content.decode()
        assert "Ann Example" not in body
        assert "auditor" in body


class TestEmergencyCasesInTheQueue:
    def test_an_emergency_case_is_listed_and_filtered_as_such(self, queue):
        Case.objects.create(kind="emergency", okta_login="x@acme.example", plan={"user": {"name": "Quick Leaver"}})
        make_case("Normal Person", "E1")
        body = queue(category="emergency")
        assert "Quick Leaver" in body and "Normal Person" not in body
