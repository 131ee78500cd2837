"""The auditors' history: every case ever, filtered, sorted, paginated, in a constant number of queries.

`make_past_case` (tests/factories.py) builds the cases straight from the models.
"""

from datetime import UTC, date, datetime, timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from offboarding import history
from offboarding.forms import HistoryFilter
from offboarding.models import Approval, AutoApproveRule, Case, Termination
from tests.factories import make_past_case
from tests.plans import sorts_rows


def found(client, **params) -> list[int]:
    response = client.get(reverse("history"), params)
    assert response.status_code == 200
    return [case.pk for case in response.context["page"].object_list]


@pytest.fixture
def signed_in(client, auditor):
    client.force_login(auditor)
    return client


@pytest.mark.django_db
class TestHistoryPage:
    def test_it_lists_every_case_newest_first(self, signed_in):
        first, second = make_past_case(name="Ann Old"), make_past_case(name="Ben New")
        assert found(signed_in) == [second.pk, first.pk]
        page = signed_in.get(reverse("history")).content.decode()
        assert "Ann Old" in page and "Ben New" in page
        assert reverse("evidence", args=[first.pk]) in page

    def test_it_shows_the_time_to_revoke_and_who_approved(self, signed_in, approver):
        rule = AutoApproveRule.objects.create(name="Voluntary engineers")
        make_past_case(took=timedelta(hours=2, minutes=5), decided_by=approver)
        make_past_case(rule=rule)
        page = signed_in.get(reverse("history")).content.decode()
        assert "2 h 05 min" in page
        assert "alice" in page and "rule: Voluntary engineers" in page

    def test_it_pages_fifty_at_a_time(self, signed_in):
        cases = [make_past_case() for _ in range(51)]
        assert len(found(signed_in)) == 50
        assert found(signed_in, page=2) == [cases[0].pk]

    def test_page_links_keep_the_filters(self, signed_in):
        for _ in range(51):
            make_past_case(department="Sales")
        page = signed_in.get(reverse("history"), {"department": "Sales"}).content.decode()
        assert "?department=Sales&amp;page=2" in page
        assert f"{reverse('history_export', args=['csv'])}?department=Sales" in page

    def test_the_number_of_queries_does_not_grow_with_the_rows(self, signed_in, approver):
        rule = AutoApproveRule.objects.create(name="r")

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                signed_in.get(reverse("history"))
            return len(captured)

        make_past_case(decided_by=approver)
        make_past_case(rule=rule)
        few = queries()
        for _ in range(20):
            make_past_case(decided_by=approver)
            make_past_case(rule=rule)
            make_past_case(emergency=True)
        assert queries() == few

    def test_past_a_thousand_cases_it_says_more_and_pages_through_the_first_thousand(self, signed_in):
        Case.objects.bulk_create(Case(state=Case.State.COMPLETED) for _ in range(1_001))
        response = signed_in.get(reverse("history"), {"state": "completed"})
        page = response.content.decode()
        assert "More than 1,000 cases match. The pages show the first 1,000 in this order" in page
        assert "Page 1 of 20</span>" in page
        assert len(found(signed_in, state="completed", page=21)) == 50  # the last page there is: the 20th

    def test_up_to_a_thousand_cases_it_says_how_many(self, signed_in):
        Case.objects.bulk_create(Case(state=Case.State.COMPLETED) for _ in range(1_000))
        page = signed_in.get(reverse("history"), {"state": "completed"}).content.decode()
        assert "1,000 cases match." in page and "More than" not in page

    def test_an_invalid_date_is_explained_and_finds_nothing(self, signed_in):
        make_past_case()
        response = signed_in.get(reverse("history"), {"left_from": "next tuesday"})
        assert "Enter a valid date" in response.content.decode()
        assert list(response.context["page"].object_list) == []


@pytest.mark.django_db
class TestHistoryFilters:
    def test_person_by_employee_id(self, signed_in):
        wanted = make_past_case("E4242", email="ann@acme.example", okta_login="ann")
        make_past_case("E42420", email="ben@acme.example", okta_login="ben")  # an exact match, not a prefix
        assert found(signed_in, person="E4242") == [wanted.pk]

    def test_person_by_part_of_the_name_in_any_case(self, signed_in):
        wanted = make_past_case(name="Zoë Müller")
        make_past_case(name="Ann Other")
        assert found(signed_in, person="müll") == [wanted.pk]

    def test_person_by_okta_login(self, signed_in):
        wanted = make_past_case(okta_login="zoe.mueller@acme.example", email="zm@personal.example")
        make_past_case()
        assert found(signed_in, person="zoe.mueller") == [wanted.pk]

    def test_person_by_work_email(self, signed_in):
        wanted = make_past_case(email="z.m@acme.example", okta_login="zm")
        make_past_case()
        assert found(signed_in, person="Z.M@ACME") == [wanted.pk]

    def test_person_finds_an_emergency_offboard_by_login(self, signed_in):
        wanted = make_past_case(emergency=True, okta_login="mallory@acme.example")
        assert found(signed_in, person="mallory") == [wanted.pk]

    def test_jira_key(self, signed_in):
        wanted = make_past_case(jira_key="SEC-12")
        make_past_case(jira_key="SEC-120")
        assert found(signed_in, jira_key=" sec-12 ") == [wanted.pk]

    @pytest.mark.parametrize("state", [Case.State.FAILED, Case.State.NEEDS_ATTENTION, Case.State.REJECTED])
    def test_state(self, signed_in, state):
        wanted = make_past_case(state=state)
        make_past_case(state=Case.State.COMPLETED)
        assert found(signed_in, state=state) == [wanted.pk]

    def test_department_offers_the_departments_there_are(self, signed_in):
        wanted = make_past_case(department="Sales")
        make_past_case(department="Engineering")
        assert found(signed_in, department="Sales") == [wanted.pk]
        choices = signed_in.get(reverse("history")).context["form"].fields["department"].choices
        assert choices == [("", "Any"), ("Engineering", "Engineering"), ("Sales", "Sales")]

    def test_department_lists_each_once_in_order_without_the_blank_one(self, signed_in):
        for department in ["Sales", "", "Legal", "Sales", "Legal", "Engineering"]:
            make_past_case(department=department)
        choices = signed_in.get(reverse("history")).context["form"].fields["department"].choices
        assert [name for name, _ in choices] == ["", "Engineering", "Legal", "Sales"]

    def test_department_and_category_follow_a_correction(self, signed_in):
        case = make_past_case(department="Sales", category="Voluntary")
        case.termination.department, case.termination.category = "Legal", "Involuntary"
        case.termination.save()  # as the sync saves a correction from Workday
        assert found(signed_in, department="Legal", category="Involuntary") == [case.pk]
        assert found(signed_in, department="Sales") == []

    def test_person_follows_a_corrected_name_and_email_and_a_resolved_login(self, signed_in):
        case = make_past_case(name="Ann Example", email="ann@acme.example", okta_login="ann")
        case.termination.name, case.termination.email = "Ann Married", "ann.married@acme.example"
        case.termination.save()
        case.okta_login = "amarried"
        case.save(update_fields=["okta_login"])
        assert found(signed_in, person="married") == [case.pk]
        assert found(signed_in, person="amarr") == [case.pk]
        assert found(signed_in, person="Ann Example") == []

    def test_termination_category(self, signed_in):
        wanted = make_past_case(category="Involuntary")
        make_past_case(category="Voluntary")
        assert found(signed_in, category="Involuntary") == [wanted.pk]

    def test_approver_who_decided_or_approved(self, signed_in, approver, make_user):
        other = make_user("erin", "approvers")
        decided = make_past_case(decided_by=approver)
        second_of_two = make_past_case(decided_by=other)
        Approval.objects.create(case=second_of_two, user=approver)
        make_past_case(decided_by=other)
        assert set(found(signed_in, approver="ALICE")) == {decided.pk, second_of_two.pk}

    def test_an_approver_nobody_is_called_finds_nothing(self, signed_in, approver):
        make_past_case(decided_by=approver)
        assert found(signed_in, approver="nobody") == []

    @pytest.mark.parametrize("params", [{"person": "nobody"}, {"approver": "nobody"}])
    def test_a_search_that_finds_nobody_exports_no_row(self, signed_in, approver, params):
        make_past_case(decided_by=approver)
        response = signed_in.get(reverse("history_export", args=["csv"]), params)
        assert response.status_code == 200
        assert len(b"".join(response.streaming_content).decode().splitlines()) == 1  # the header alone

    def test_rule(self, signed_in, approver):
        rule, other = AutoApproveRule.objects.create(name="a"), AutoApproveRule.objects.create(name="b")
        wanted = make_past_case(rule=rule)
        make_past_case(rule=other)
        make_past_case(decided_by=approver)
        assert found(signed_in, rule=rule.pk) == [wanted.pk]

    def test_approved_by_a_rule_or_a_person(self, signed_in, approver):
        by_rule = make_past_case(rule=AutoApproveRule.objects.create(name="a"))
        by_person = make_past_case(decided_by=approver)
        make_past_case(state=Case.State.PENDING_REVIEW, took=None)  # undecided: neither
        assert found(signed_in, decision="rule") == [by_rule.pk]
        assert found(signed_in, decision="human") == [by_person.pk]

    def test_left_between_two_days_inclusive(self, signed_in):
        make_past_case(left=date(2026, 6, 30))
        first = make_past_case(left=date(2026, 7, 1))
        last = make_past_case(left=date(2026, 9, 30))
        make_past_case(left=date(2026, 10, 1))
        assert set(found(signed_in, left_from="2026-07-01", left_until="2026-09-30")) == {first.pk, last.pk}
        assert set(found(signed_in, left_from="2026-09-30")) >= {last.pk}
        assert first.pk in found(signed_in, left_until="2026-07-01")

    def test_left_counts_an_emergency_offboard_on_the_day_it_took_effect(self, signed_in):
        inside = make_past_case(emergency=True, effective_at=datetime(2026, 8, 3, 15, tzinfo=UTC))
        make_past_case(emergency=True, effective_at=datetime(2026, 10, 3, 15, tzinfo=UTC))
        assert found(signed_in, left_from="2026-07-01", left_until="2026-09-30") == [inside.pk]

    def test_left_follows_a_corrected_termination_date(self, signed_in):
        case = make_past_case(left=date(2026, 7, 15))
        case.termination.termination_date = date(2026, 10, 2)
        case.termination.save()
        assert found(signed_in, left_from="2026-10-01") == [case.pk]
        assert found(signed_in, left_until="2026-09-30") == []

    def test_an_emergency_offboard_left_on_its_day_in_the_site_time_zone(self, signed_in, settings):
        settings.TIME_ZONE = "America/New_York"
        evening = make_past_case(emergency=True, effective_at=datetime(2026, 8, 1, 2, tzinfo=UTC))  # 22:00 on 31 July
        assert found(signed_in, left_from="2026-07-31", left_until="2026-07-31") == [evening.pk]
        assert found(signed_in, left_from="2026-08-01") == []

    def test_cases_from_before_the_day_was_kept_on_the_case_get_it_from_the_migration(self, settings):
        settings.TIME_ZONE = "America/New_York"
        workday = make_past_case(left=date(2026, 7, 15))
        emergency = make_past_case(emergency=True, effective_at=datetime(2026, 8, 1, 2, tzinfo=UTC))
        unknown = make_past_case(emergency=True)
        Case.objects.update(left_on=None)
        Case.objects.filter(pk=unknown.pk).update(effective_at=None)
        import_module("offboarding.migrations.0008_case_left_on").fill(apps, schema_editor=None)
        assert dict(Case.objects.values_list("pk", "left_on")) == {
            workday.pk: date(2026, 7, 15),
            emergency.pk: date(2026, 7, 31),
            unknown.pk: None,
        }

    def test_completed_between_two_days_inclusive(self, signed_in):
        make_past_case(finished_at=datetime(2026, 7, 31, 23, 59, tzinfo=UTC))
        first = make_past_case(finished_at=datetime(2026, 8, 1, 0, 0, tzinfo=UTC))
        last = make_past_case(finished_at=datetime(2026, 8, 31, 23, 59, tzinfo=UTC))
        make_past_case(finished_at=datetime(2026, 9, 1, 0, 0, tzinfo=UTC))
        make_past_case(state=Case.State.SCHEDULED, took=None)  # not finished: never in a completed range
        assert set(found(signed_in, completed_from="2026-08-01", completed_until="2026-08-31")) == {first.pk, last.pk}

    def test_filters_combine(self, signed_in, approver):
        wanted = make_past_case(department="Sales", category="Involuntary", decided_by=approver, left=date(2026, 8, 1))
        make_past_case(department="Sales", category="Involuntary", decided_by=approver, left=date(2026, 10, 1))
        make_past_case(department="Sales", category="Voluntary", decided_by=approver, left=date(2026, 8, 1))
        make_past_case(department="Legal", category="Involuntary", decided_by=approver, left=date(2026, 8, 1))
        make_past_case(department="Sales", category="Involuntary", left=date(2026, 8, 1))
        make_past_case(department="Sales", category="Involuntary", decided_by=approver, state=Case.State.FAILED)
        params = {
            "department": "Sales",
            "category": "Involuntary",
            "approver": "alice",
            "state": "completed",
            "left_from": "2026-07-01",
            "left_until": "2026-09-30",
        }
        assert found(signed_in, **params) == [wanted.pk]
        assert found(signed_in, **params, person=wanted.termination.employee_id) == [wanted.pk]
        assert found(signed_in, **params, person="nobody") == []


@pytest.mark.django_db
class TestHistorySorting:
    @pytest.fixture
    def three(self):
        b = make_past_case(name="Bea", left=date(2026, 7, 2), took=timedelta(hours=5))
        a = make_past_case(name="Ada", left=date(2026, 7, 3), took=timedelta(minutes=5))
        c = make_past_case(name="Cal", left=date(2026, 7, 1), took=None, state=Case.State.FAILED)
        return a, b, c

    @pytest.mark.parametrize(
        "sort, expected",
        [
            ("-opened", "cab"),
            ("opened", "bac"),
            ("-left", "abc"),
            ("left", "cba"),
            ("-completed", "abc"),  # not completed last
            ("completed", "bac"),
            ("name", "abc"),
            ("-time_to_revoke", "bac"),  # not revoked last
        ],
    )
    def test_it_sorts(self, signed_in, three, sort, expected):
        by_letter = dict(zip("abc", three, strict=True))
        assert found(signed_in, sort=sort) == [by_letter[letter].pk for letter in expected]

    def test_by_name_an_emergency_offboard_sorts_by_the_name_shown(self, signed_in, three):
        a, b, c = three
        emergency = make_past_case(emergency=True, okta_login="z@acme.example")
        emergency.plan = {"user": {"name": "Bob Example"}}  # the Okta user, as the offboard found them
        emergency.save()
        assert found(signed_in, sort="name") == [a.pk, b.pk, emergency.pk, c.pk]

    def test_by_name_follows_a_corrected_name(self, signed_in, three):
        a, b, c = three
        a.termination.name = "Zed"  # as the sync saves a correction from Workday
        a.termination.save()
        assert found(signed_in, sort="name") == [b.pk, c.pk, a.pk]

    def test_the_name_is_kept_on_every_save_that_can_change_it(self, three):
        a, _, _ = three
        a.plan = {"user": {"name": "Not shown: the termination names the person"}}
        a.save(update_fields=["plan"])
        assert Case.objects.get(pk=a.pk).sort_name == "Ada"
        emergency = make_past_case(emergency=True, okta_login="mallory@acme.example")
        emergency.plan = {"user": {"name": "Mallory Example"}}
        emergency.save(update_fields=["plan"])
        assert Case.objects.get(pk=emergency.pk).sort_name == "Mallory Example"

    def test_cases_from_before_the_name_was_kept_on_the_case_get_it_from_the_migration(self, three):
        a, b, c = three
        emergency = make_past_case(emergency=True, okta_login="mallory@acme.example")
        named = make_past_case(emergency=True, okta_login="eve@acme.example")
        Case.objects.filter(pk=named.pk).update(plan={"user": {"name": "Eve Example"}})
        Case.objects.filter(pk=c.pk).update(department="", category="")
        Case.objects.update(sort_name="", search_text="")
        import_module("offboarding.migrations.0023_history_at_scale").fill_kept(apps, schema_editor=None)
        assert dict(Case.objects.values_list("pk", "sort_name")) == {
            a.pk: "Ada",
            b.pk: "Bea",
            c.pk: "Cal",
            emergency.pk: "mallory@acme.example",
            named.pk: "Eve Example",
        }
        assert Case.objects.values_list("department", "category").get(pk=c.pk) == ("Engineering", "Voluntary")
        assert Case.objects.get(pk=c.pk).search_text == f"Cal\n{c.termination.email}\n{c.okta_login}"
        assert Case.objects.get(pk=emergency.pk).search_text == "mallory@acme.example"
        assert Case.objects.values_list("department", "category").get(pk=named.pk) == ("", "")

    def test_an_emergency_offboard_sorts_by_the_day_it_took_effect(self, signed_in, three):
        a, b, c = three
        emergency = make_past_case(emergency=True, effective_at=datetime(2026, 7, 2, 12, tzinfo=UTC))
        assert found(signed_in, sort="left") == [c.pk, b.pk, emergency.pk, a.pk]
        assert found(signed_in, sort="-left") == [a.pk, emergency.pk, b.pk, c.pk]


POSTGRES = connection.vendor == "postgresql"


def plan_of(queryset) -> str:
    """PostgreSQL's plan for a page of the rows."""
    return queryset[:50].explain()


@pytest.fixture
def many():
    """Enough cases for the planner to choose as it would at a million: reading an index in order, or a trigram
    index, over reading (and sorting) every row."""
    terminations = Termination.objects.bulk_create(
        Termination(
            employee_id=str(n), name=f"Person {n}", email=f"p{n}@acme.example", termination_date=date(2026, 7, 1)
        )
        for n in range(5_000)
    )
    Case.objects.bulk_create(
        Case(termination=t, okta_login=t.email, left_on=t.termination_date, sort_name=t.name) for t in terminations
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


@pytest.mark.skipif(
    not POSTGRES, reason="the indexes for a million cases are PostgreSQL's (DATABASE_URL=postgres://...)"
)
@pytest.mark.django_db
class TestHistoryIndexes:
    @pytest.mark.parametrize("sort", history.SORTS)
    def test_every_sort_is_read_from_an_index_in_its_order(self, many, sort):
        plan = plan_of(HistoryFilter({"sort": sort}).cases())
        assert not sorts_rows(plan), plan

    @pytest.mark.parametrize("part", ["müll", "z.m@acme", "zoe.mueller"])
    def test_part_of_a_name_an_email_or_a_login_is_found_from_the_trigram_index(self, part):
        make_past_case(name="Zoë Müller", email="z.m@acme.example", okta_login="zoe.mueller@acme.example")
        with connection.cursor() as cursor:  # only an index that answers the search itself, or read every row
            cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
        plan = Case.objects.filter(history.person_matches(part)).explain()
        assert "Bitmap Index Scan on case_search_trgm" in plan, plan
