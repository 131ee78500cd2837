"""Danger first: failed, needing attention and overdue cases on top of the queue, counted and marked; a failed
case says in plain words what is still in place and what to do; every state its own colour, words and mark."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, revocation, sync
from offboarding.models import Case
from tests.factories import make_case

SITE_CSS = Path(django_settings.BASE_DIR) / "static" / "css" / "site.css"


@pytest.fixture
def queue(client, approver):
    client.force_login(approver)

    def get(**params):
        return client.get(reverse("home"), params)

    return get


def overdue_case(name: str, employee_id: str, hours_ago: float = 6, **fields) -> Case:
    case = make_case(name, employee_id, **fields)
    Case.objects.filter(pk=case.pk).update(effective_at=timezone.now() - timedelta(hours=hours_ago))
    return Case.objects.get(pk=case.pk)


class TestTheQueuePutsTheDangerFirst:
    def test_failed_needing_attention_and_overdue_come_before_next_week_s_pending(self, queue):
        make_case("Next Week", "E1", days_ahead=7)
        overdue_case("Six Hours Late", "E2", state="scheduled")
        make_case("Broken Run", "E3", state="failed", days_ahead=3)
        make_case("Doubtful Identity", "E4", state="needs_attention", days_ahead=5)
        body = queue().content.decode()
        order = ["Broken Run", "Doubtful Identity", "Six Hours Late", "Next Week"]
        assert [body.index(name) for name in order] == sorted(body.index(name) for name in order)

    def test_a_banner_counts_them(self, queue):
        make_case("Broken Run", "E3", state="failed")
        overdue_case("Six Hours Late", "E2")
        overdue_case("Also Late", "E5", state="approved")
        body = queue().content.decode()
        banner = re.search(r'<div class="banner danger" role="alert" id="danger-banner">(.*?)</div>', body, re.S)
        text = " ".join(re.sub(r"<[^>]+>", "", banner.group(1)).split())
        assert text.startswith("3 cases need you first")
        assert "1 failed" in text and "0 need attention" in text and "2 overdue" in text

    def test_a_late_case_needing_attention_is_counted_once(self, queue):
        overdue_case("Late And Doubtful", "E2", state="needs_attention")
        body = queue().content.decode()
        assert "1 case needs you first" in body and "0 overdue" in body

    def test_no_banner_when_nothing_is_in_danger(self, queue):
        make_case("Next Week", "E1", days_ahead=7)
        assert 'id="danger-banner"' not in queue().content.decode()

    def test_an_overdue_case_is_marked_and_one_on_time_is_not(self, queue):
        overdue_case("Six Hours Late", "E2", state="scheduled")
        make_case("Next Week", "E1", days_ahead=7)
        body = queue().content.decode()
        late_row = body[body.index("Six Hours Late") :]
        late_row = late_row[: late_row.index("</tr>")]
        assert "overdue" in late_row
        on_time = body[body.index("Next Week") :]
        assert "overdue</span>" not in on_time[: on_time.index("</tr>")]

    def test_a_moment_that_just_passed_is_not_overdue_yet(self, db):
        case = overdue_case("Just Due", "E1", hours_ago=0.05, state="approved")
        assert not case.is_overdue
        assert not Case.objects.overdue().exists()


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "said"),
        [
            ({"state": "bogus"}, "State: Select a valid choice. bogus is not one of the available choices."),
            ({"effective_from": "notadate"}, "Effective from: Enter a valid date."),
            ({"effective_from": "2026-12-10", "effective_to": "2026-12-01"}, "is before"),
        ],
    )
    def test_a_bad_filter_says_what_is_wrong_and_shows_no_case(self, queue, params, said):
        make_case("Ann Example", "E1")
        response = queue(**params)
        body = response.content.decode()
        assert response.status_code == 400
        assert 'id="filter-errors"' in body and said in body
        assert "Ann Example" not in body
        assert "No case is shown: the filters are not valid." in body

    def test_a_good_filter_still_filters(self, queue):
        make_case("Ann Example", "E1", state="failed")
        make_case("Bo Other", "E2")
        body = queue(state="failed").content.decode()
        assert "Ann Example" in body and "Bo Other" not in body


class TestAFailedCase:
    @pytest.fixture
    def failed_case(self, org, approver, leaver):
        leaver(days_ahead=-1)
        sync.sync_workday()
        case = decisions.approve(Case.objects.get().pk, approver, "HR confirmed")
        org.fault("okta", "error", endpoint="POST /api/v1/users/*/lifecycle/deactivate", status=500, rate=1)
        org.fault("okta", "error", endpoint="DELETE /api/v1/groups/*/users/*", status=500, rate=1)
        assert revocation.run_case(case.pk) == Case.State.FAILED
        org.clear_faults()
        return Case.objects.get(pk=case.pk)

    def test_it_opens_with_a_banner_saying_what_is_in_place_and_what_to_do(self, client, approver, failed_case):
        client.force_login(approver)
        body = client.get(failed_case.get_absolute_url()).content.decode()
        banner = body[body.index('id="failure-banner"') :]
        banner = banner[: banner.index("</section>")]
        assert "The Okta user is NOT deactivated; 2 group memberships remain." in banner
        assert "What to do:" in banner and "Retry" in banner and "by hand in the Okta admin console" in banner
        assert body.index('id="failure-banner"') < body.index('id="decision-heading"')

    def test_the_banner_wraps_rather_than_widening_the_page(self):
        css = SITE_CSS.read_text()
        assert re.search(r"\.failure \{[^}]*white-space: pre-wrap;[^}]*overflow-wrap: anywhere", css)
        assert re.search(r"main \{[^}]*overflow-wrap: break-word", css)

    def test_the_sentence_counts_what_a_run_left(self, failed_case):
        assert revocation.still_in_place(list(failed_case.steps.all())) == (
            "The Okta user is NOT deactivated; 2 group memberships remain."
        )

    def test_a_failed_universal_logout_is_named_as_still_in_place(self, org, approver, leaver):
        person = leaver(days_ahead=-1)
        org.add_okta_app("Zoom", sign_on_mode="OPENID_CONNECT", universal_logout=True, users=[person["user_id"]])
        sync.sync_workday()
        case = decisions.approve(Case.objects.get().pk, approver, "HR confirmed")
        org.fault("okta", "error", endpoint="POST /oauth2/v1/global-token-revocation", status=500, rate=1)
        assert revocation.run_case(case.pk) == Case.State.FAILED
        assert revocation.still_in_place(list(case.steps.all())) == (
            "The Okta user is deactivated; apps with Universal Logout may still hold sessions."
        )


class TestEveryStateIsItsOwn:
    def test_each_state_has_its_own_colour(self):
        css = SITE_CSS.read_text()
        colours = {}
        for state in Case.State.values:
            rule = re.search(rf"\.state-{state}[ ,][^{{]*\{{([^}}]*)\}}", css)
            assert rule, f"no colour for {state}"
            colours[state] = re.search(r"background: ([^;]+);", rule.group(1)).group(1)
        assert len(set(colours.values())) == len(colours), colours
        assert colours["needs_attention"] != colours["pending_review"]
        assert len({colours["approved"], colours["scheduled"], colours["running"]}) == 3

    def test_each_badge_has_its_words_and_its_own_mark(self, queue):
        css = SITE_CSS.read_text()
        marks = {state: re.search(rf'\.state-{state}::before \{{ content: "([^"]+)" / ""', css) for state in Case.State}
        assert all(marks.values()), marks
        assert len({mark.group(1) for mark in marks.values()}) == len(Case.State)
        for n, state in enumerate(["failed", "needs_attention", "pending_review", "scheduled", "running"]):
            make_case(f"Person {n}", f"E{n}", state=state)
        body = queue().content.decode()
        for state in ["failed", "needs_attention", "pending_review", "scheduled", "running"]:
            assert f'<span class="state state-{state}">{Case.State(state).label}</span>' in body
