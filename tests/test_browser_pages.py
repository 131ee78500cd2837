"""The walk-out day in a real browser (system Chromium): revoke now, the danger first, the identity chooser,
empty states, the queue on a phone, and a focus ring one can see.

As in tests/test_browser_journeys.py, the django-q2 cluster does not run: the test runs an enqueued
revocation from a background thread and moves the page's fake clock on one poll at a time.
"""

import re

import pytest
from playwright.sync_api import expect

from offboarding import decisions, revocation, sync
from offboarding.models import Case
from tests.browser_fixtures import follow_progress, run_in_background
from tests.factories import make_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def contrast(foreground: tuple[int, int, int], background: tuple[int, int, int]) -> float:
    def luminance(rgb: tuple[int, int, int]) -> float:
        linear = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


class TestRevokeNow:
    def test_a_case_scheduled_for_tomorrow_is_revoked_now_and_the_page_tells_one_story(
        self, browser_page, sign_in, screenshot, approver, leaver
    ):
        leaver(days_ahead=1)
        sync.sync_workday()
        case = decisions.approve(Case.objects.get().pk, approver, "HR confirmed")
        assert case.state == Case.State.SCHEDULED
        page = browser_page
        page.clock.install()
        sign_in(approver, case.get_absolute_url())
        expect(page.locator("#progress-status")).to_have_text("")  # tomorrow: nothing can change yet
        expect(page.locator("#result")).to_have_count(0)
        page.get_by_label("Why now (required)").fill("Fired today for misconduct")
        page.get_by_role("button", name="Revoke now…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Revoke now: Zoë Müller?")
        page.get_by_role("button", name="Yes, revoke now").click()
        expect(page.locator(".messages")).to_contain_text("Revoking now")
        expect(page.locator("#case-state")).to_have_text("Approved")
        expect(page.locator("#progress-status")).to_have_text("Updating live…")

        worker = run_in_background(case.pk)
        timeline = page.locator("#timeline")
        follow_progress(page, lambda: page.locator("#case-state").inner_text() == "Completed")
        worker.join(timeout=30)
        expect(timeline).to_contain_text("Revoke now asked")
        expect(timeline).to_contain_text("Revocation completed")
        okta = page.locator("#okta-panel")
        expect(okta).to_contain_text("read back at verification")
        expect(okta.locator("#okta-status")).to_have_text("DEPROVISIONED")
        expect(okta).not_to_contain_text("ACTIVE")
        expect(page.locator("#revoke-now")).to_have_count(0)
        screenshot("revoked-now")


class TestDangerFirst:
    def test_the_queue_counts_and_tops_a_failed_case_which_opens_with_its_banner(
        self, browser_page, sign_in, screenshot, approver, org, approved_case
    ):
        case = approved_case()
        make_case("Next Week", "E7", days_ahead=7)  # after the sync: the report does not hold it
        org.fault("okta", "error", endpoint="POST /api/v1/users/*/lifecycle/deactivate", status=500, rate=1)
        assert revocation.run_case(case.pk) == Case.State.FAILED
        org.clear_faults()
        page = browser_page
        sign_in(approver)
        banner = page.locator("#danger-banner")
        expect(banner).to_contain_text("1 case needs you first")
        expect(banner).to_contain_text("1 failed")
        first = page.locator("table.queue tbody tr").first
        expect(first).to_contain_text("Zoë Müller")
        expect(first.locator(".state")).to_have_text("Failed")
        screenshot("queue-danger")

        page.get_by_role("link", name="Zoë Müller").click()
        failure = page.locator("#failure-banner")
        expect(failure).to_be_visible()
        expect(failure).to_contain_text("The Okta user is NOT deactivated")
        expect(failure).to_contain_text("What to do")
        page.set_viewport_size(PHONE)
        assert page_width(page) <= PHONE["width"], "the failed case is wider than the phone"
        box = failure.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        screenshot("failed-case-phone")


class TestTheQueueOnAPhone:
    def test_it_fits_390_px_with_the_state_visible(self, browser_page, sign_in, screenshot, approver):
        for n, state in enumerate(["failed", "needs_attention", "pending_review", "scheduled"]):
            make_case(f"Person With A Rather Long Name {n}", f"E{n}", state=state, department="Engineering")
        page = browser_page
        page.set_viewport_size(PHONE)
        sign_in(approver)
        expect(page.locator("table.queue tbody tr")).to_have_count(4)
        assert page_width(page) <= PHONE["width"]
        for badge in page.locator("table.queue tbody .state").all():
            box = badge.bounding_box()
            assert box and box["x"] + box["width"] <= PHONE["width"], box
        screenshot("queue-390")


class TestIdentityChooser:
    def test_a_case_with_no_okta_user_offers_the_chooser_not_approve(self, browser_page, sign_in, approver, leaver):
        leaver(in_okta=False)
        sync.sync_workday()
        case = Case.objects.get()
        page = browser_page
        sign_in(approver, case.get_absolute_url())
        expect(page.get_by_role("button", name="Approve…")).to_have_count(0)
        expect(page.get_by_role("button", name="Revoke now…")).to_have_count(0)
        page.get_by_role("link", name="Pick the Okta user first").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Who is Zoë Müller in Okta?")
        expect(page.get_by_role("button", name="No Okta account: nothing to revoke…")).to_be_visible()


class TestEmptyStates:
    def test_a_history_search_with_no_result_and_a_bad_queue_filter_say_so(
        self, browser_page, sign_in, approver, auditor
    ):
        make_case("Ann Example", "E1")
        page = browser_page
        sign_in(approver, "/?state=bogus")
        expect(page.locator("#filter-errors")).to_contain_text("State: Select a valid choice.")
        expect(page.locator("table.queue tbody")).to_contain_text("No case is shown: the filters are not valid.")
        page.get_by_role("button", name="Sign out").click()
        sign_in(auditor, "/audit/")
        page.get_by_label("Person").fill("Nobody Such")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("status")).to_contain_text("0 cases match.")
        expect(page.locator("table.history tbody")).to_have_text(re.compile("No case matches these filters."))


class TestFocusRing:
    def test_the_focused_control_s_ring_reaches_3_to_1_on_white(self, browser_page, sign_in, approver):
        make_case("Ann Example", "E1")
        page = browser_page
        sign_in(approver)
        link = page.get_by_role("link", name="Ann Example")
        link.focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")  # by keyboard, so :focus-visible applies
        style = link.evaluate(
            "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
        )
        assert style[0] == "solid" and float(style[1].removesuffix("px")) >= 2, style
        rgb = tuple(int(n) for n in re.findall(r"\d+", style[2])[:3])
        assert contrast(rgb, (255, 255, 255)) >= 3, style


class TestNoPageIsWiderThanAPhone:
    def test_the_pages_an_analyst_reads_fit_390_px(self, browser_page, sign_in, approver, auditor, org, approved_case):
        case = approved_case()
        org.fault("okta", "error", endpoint="POST /api/v1/users/*/lifecycle/deactivate", status=500, rate=1)
        revocation.run_case(case.pk)
        org.clear_faults()
        page = browser_page
        page.set_viewport_size(PHONE)
        sign_in(approver)
        wide = {}
        for url in ["/", case.get_absolute_url(), "/emergency/?q=zo", "/workday/row-errors"]:
            page.goto(url)
            if page_width(page) > PHONE["width"]:
                wide[url] = page_width(page)
        page.get_by_role("button", name="Sign out").click()
        sign_in(auditor)
        for url in [
            "/audit/",
            f"/audit/cases/{case.pk}/",
            "/audit/sla/",
            "/audit/reconciliation/",
            "/audit/integrity/",
        ]:
            page.goto(url)
            if page_width(page) > PHONE["width"]:
                wide[url] = page_width(page)
        assert not wide, wide


class TestFollowingProgress:
    def test_it_asks_again_when_the_last_answer_came_before_it_listened(self, browser_page, sign_in, approver):
        # The page's clock flows on its own too, so the last poll can be answered between `done()` and the
        # helper listening for the next answer: after it, the page polls no more. A page that does not poll
        # at all (next week's case) is that moment; `done()` turns true only when asked a second time.
        case = make_case("Next Week", "E7", days_ahead=7)
        page = browser_page
        page.clock.install()
        sign_in(approver, case.get_absolute_url())
        expect(page.locator("#progress-status")).to_have_text("")
        answers = iter([False, True])
        follow_progress(page, lambda: next(answers), timeout=15)
